package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
	"github.com/kioskd/kioskd/status"
)

// syncBuf is a bytes.Buffer for a writer in another goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ledDaemon is what the daemon wires for the LEDs and the socket: a
// controller on a fake backend following the session's events, and the
// status socket serving its staff commands.
type ledDaemon struct {
	clk    *clocktest.Clock
	fake   *ledstest.Backend
	ctl    *leds.Controller
	events chan contract.Event
	sock   string
}

func startLEDDaemon(t *testing.T) *ledDaemon {
	t.Helper()
	d := &ledDaemon{clk: clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), events: make(chan contract.Event, 4)}
	d.fake = ledstest.New(d.clk)
	var err error
	if d.ctl, err = leds.New(config.Default().LEDs, d.fake, d.clk, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.ctl.Run(ctx, d.events) }()
	d.sock = filepath.Join(t.TempDir(), "status.sock")
	srv, err := status.NewServer(config.Status{Socket: d.sock}, status.ServerOptions{
		Snapshot: func() contract.Snapshot { return contract.Snapshot{State: contract.Connected} }, PollInterval: -1, LEDs: d.ctl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-ran
		d.ctl.Close()
	})
	d.events <- contract.Event{Kind: contract.EventState, State: contract.Connected}
	d.wait(t, "Connected", connected)
	return d
}

func (d *ledDaemon) wait(t *testing.T, what string, cond func([]ledstest.Op) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.fake.Wait(ctx, cond); err != nil {
		t.Fatalf("LEDs never showed %s: %v\n%v", what, err, d.fake.Ops())
	}
}

func connected(o []ledstest.Op) bool {
	return !ledstest.StateOf(o, "red").On && !ledstest.StateOf(o, "amber").On && ledstest.StateOf(o, "green").On
}

// TestLEDsIdentifyThroughTheDaemon: with a daemon on the socket, `kioskd
// leds identify` asks it (the daemon owns the lines): every LED flashes
// together for --for, the CLI prints what shows, and the LEDs go back to
// Connected; then the lamp test the same way.
func TestLEDsIdentifyThroughTheDaemon(t *testing.T) {
	d := startLEDDaemon(t)
	mark := d.fake.Len()
	var out, errOut syncBuf
	code := make(chan int, 1)
	go func() { code <- Main([]string{"leds", "identify", "--for", "5s", "--socket", d.sock}, &out, &errOut) }()
	d.wait(t, "identify", func(o []ledstest.Op) bool {
		return len(o) > mark && ledstest.StateOf(o[mark:], "red").On && ledstest.StateOf(o[mark:], "amber").On && ledstest.StateOf(o[mark:], "green").On
	})
	for range 25 { // 5 s of 2.5 Hz: 25 half periods of 200 ms
		d.clk.BlockUntil(1)
		d.clk.Advance(200 * time.Millisecond)
	}
	if c := <-code; c != 0 {
		t.Fatalf("leds identify: exit %d, stderr %q", c, errOut.String())
	}
	d.wait(t, "Connected again", connected)
	o := d.fake.Ops()[mark:]
	from := o[0].At
	for _, led := range []string{"red", "amber", "green"} {
		if n := ledstest.Flashes(o, led, from, from.Add(5*time.Second)); n != 13 {
			t.Errorf("%s flashed %d times in 5 s, want 13 (2.5 Hz, lit first)", led, n)
		}
	}
	if s := out.String(); !strings.Contains(s, "identify: every LED flashes together") || !strings.Contains(s, "red blinks 2.5/s, amber blinks 2.5/s, green blinks 2.5/s") ||
		!strings.HasSuffix(s, "done: the LEDs show the kiosk's state again\n") {
		t.Errorf("stdout:\n%s", s)
	}

	// The lamp test: its first step (red alone) shows, and its lines arrive
	// one by one as the steps begin.
	mark = d.fake.Len()
	out = syncBuf{}
	go func() { code <- Main([]string{"leds", "test", "--socket", d.sock}, &out, &errOut) }()
	d.wait(t, "red alone", func(o []ledstest.Op) bool {
		return len(o) > mark && ledstest.StateOf(o, "red").On && !ledstest.StateOf(o, "green").On
	})
	steps := leds.Traffic.LampTest()
	for _, s := range steps {
		d.clk.BlockUntil(1)
		d.clk.Advance(s.For)
	}
	if c := <-code; c != 0 {
		t.Fatalf("leds test: exit %d, stderr %q", c, errOut.String())
	}
	d.wait(t, "Connected after the lamp test", connected)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(steps)+1 || !strings.Contains(lines[0], "LED red alone") || !strings.Contains(lines[len(steps)-2], "Connected, error 5") {
		t.Errorf("leds test printed:\n%s", out.String())
	}
}

// TestLEDsIdentifyWithoutDaemon: nobody on the socket, so the CLI drives
// the LEDs of --config itself (here the console), and leaves them off.
func TestLEDsIdentifyWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kioskd.yaml")
	if err := os.WriteFile(cfg, []byte("leds:\n  backend: console\nstatus:\n  socket: "+filepath.Join(dir, "none.sock")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if c := Main([]string{"leds", "identify", "--for", "100ms", "--config", cfg}, &out, &errOut); c != 0 {
		t.Fatalf("exit %d: %s", c, errOut.String())
	}
	want := []string{
		"kioskd is not running: driving the LEDs of " + cfg + " (console) directly",
		"LEDs: red ◐2.5Hz amber ◐2.5Hz green ◐2.5Hz",
		" 1/1  identify: every LED flashes together",
		"LEDs: red ○ amber ○ green ○",
		"done: the LEDs are off (kioskd is not running)",
	}
	got := out.String()
	at := 0
	for _, w := range want {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Fatalf("stdout lacks %q (in order):\n%s", w, got)
		}
		at += i + len(w)
	}
	if strings.Contains(got, "red ●") {
		t.Errorf("the red LED lit (Disconnected) before or after the identify:\n%s", got)
	}

	// No LEDs configured: a clear error.
	if err := os.WriteFile(cfg, []byte("status:\n  socket: "+filepath.Join(dir, "none.sock")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if c := Main([]string{"leds", "test", "--config", cfg}, &out, &errOut); c != exitFail || !strings.Contains(errOut.String(), "leds.backend: none") {
		t.Errorf("no LEDs: exit %d, %q", c, errOut.String())
	}
	errOut.Reset()
	if c := Main([]string{"leds", "identify", "--for", "2h", "--config", cfg}, &out, &errOut); c != exitUsage || strings.Count(errOut.String(), "\n") != 2 {
		t.Errorf("--for 2h: exit %d, %q", c, errOut.String())
	}
}
