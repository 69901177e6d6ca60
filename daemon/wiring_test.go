package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/leds/ledstest"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
	"github.com/kioskd/kioskd/status"
)

// labConfig is a kiosk with synthetic media for dp, its state and status
// socket in a temporary folder, no LEDs and no metrics.
func labConfig(t *testing.T, dp *dptest.Server) *config.Config {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(dp.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvToken, "")
	cfg := config.Default()
	cfg.Server.URL = dp.URL
	cfg.Server.TokenFile = tokenFile
	cfg.Session.StateDir = filepath.Join(dir, "state")
	cfg.Session.Reconnect.InitialDelay = 50 * time.Millisecond
	cfg.Session.Reconnect.MaxDelay = 500 * time.Millisecond
	cfg.Media.Camera, cfg.Media.Microphone, cfg.Media.Speaker = "test", "test", "none"
	cfg.Media.Width, cfg.Media.Height, cfg.Media.FPS = 160, 120, 10
	cfg.Status.Socket = filepath.Join(dir, "status.sock")
	return cfg
}

// freeAddr is a loopback TCP address nobody listens on (for metrics_listen).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// fakeSystemd is a NOTIFY_SOCKET in a temporary folder, set for the test
// (with no watchdog unless the test sets WATCHDOG_USEC).
type fakeSystemd struct {
	mu      sync.Mutex
	msgs    []string
	changed chan struct{}
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	f := &fakeSystemd{changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			f.mu.Lock()
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				if l != "" {
					f.msgs = append(f.msgs, l)
				}
			}
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return f
}

func (f *fakeSystemd) snapshot() ([]string, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.msgs...), f.changed
}

func (f *fakeSystemd) waitFor(t *testing.T, ctx context.Context, what string, cond func([]string) bool) []string {
	t.Helper()
	for {
		msgs, changed := f.snapshot()
		if cond(msgs) {
			return msgs
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("systemd: timed out waiting for %s; got %q", what, msgs)
		}
	}
}

func count(msgs []string, match func(string) bool) int {
	n := 0
	for _, m := range msgs {
		if match(m) {
			n++
		}
	}
	return n
}

func is(s string) func(string) bool { return func(m string) bool { return m == s } }

// scrape reads the kioskd_* samples of a /metrics page, keyed by name and
// labels as printed ("kioskd_media_sent_bytes_total{kind=\"video\"}").
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	// No keep-alive: the test checks that no goroutine is left behind.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "kioskd_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// run starts d.Run and returns a function that cancels it and returns its
// error (failing the test if it takes more than 5 s: docs/BEHAVIOUR.md
// section 10).
func run(t *testing.T, d *daemon.Daemon) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-ran:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5 s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestRunWiresReportingAndTearsItDown: one daemon, in this process, with a
// fake LED backend, the status socket, metrics, a fake NOTIFY_SOCKET and
// the systemd watchdog on, against dpsim. While Connected the LEDs show
// green, `kioskd status` and /metrics answer, systemd got READY=1, a
// STATUS= with the session id and watchdog pings, and the session id
// reached OnSessionID. When the run context ends: STOPPING=1, the session
// closed with reason normal, Run returns nil, every LED off and the backend
// closed, the socket file gone, the metrics port closed, and no goroutine
// left behind (each subscription ended, each reporter stopped).
func TestRunWiresReportingAndTearsItDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sd := newFakeSystemd(t)
	ignore := goleak.IgnoreCurrent()     // the test's own, the fake systemd's
	t.Setenv("WATCHDOG_USEC", "2000000") // a ping a second
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	cfg.Status.MetricsListen = freeAddr(t)
	backend := ledstest.New(clock.Real)
	rec := sessiontest.NewRecorder()
	var idMu sync.Mutex
	var ids []string
	d, err := daemon.New(cfg, daemon.Options{
		Log:       testlog.New(t, slog.LevelInfo),
		LEDs:      backend,
		Observers: []func(<-chan contract.Event){rec.Observe},
		OnSessionID: func(id string) {
			idMu.Lock()
			ids = append(ids, id)
			idMu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)

	id := connectedIDs(rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 }))[0]
	msgs := sd.waitFor(t, ctx, "READY=1, STATUS= with the id, 2 watchdog pings", func(m []string) bool {
		return count(m, is("READY=1")) == 1 && count(m, is("WATCHDOG=1")) >= 2 &&
			count(m, func(s string) bool { return strings.HasPrefix(s, "STATUS=") && strings.Contains(s, id) }) > 0
	})
	if msgs[0] != "READY=1" {
		t.Errorf("first notification %q, want READY=1", msgs[0])
	}
	if err := backend.Wait(ctx, func(ops []ledstest.Op) bool {
		return ledstest.StateOf(ops, "green").On && !ledstest.StateOf(ops, "red").On && !ledstest.StateOf(ops, "amber").On
	}); err != nil {
		t.Fatalf("LEDs at Connected: %v", backend.Ops())
	}
	st, err := status.Query(ctx, cfg.Status.Socket)
	if err != nil || st.State != "Connected" || st.SessionID != id {
		t.Fatalf("status socket: %+v, %v", st, err)
	}
	// `kioskd leds identify` reaches the daemon's LEDs through the socket:
	// every LED lit together, then Connected again.
	mark := backend.Len()
	if err := status.LEDCommand(ctx, cfg.Status.Socket, status.IdentifyCommand(600*time.Millisecond), nil); err != nil {
		t.Fatalf("identify through the socket: %v", err)
	}
	o := backend.Ops()[mark:]
	if !slices.ContainsFunc(o, func(op ledstest.Op) bool { return op.Name == "red" && op.On }) ||
		!slices.ContainsFunc(o, func(op ledstest.Op) bool { return op.Name == "amber" && op.On }) {
		t.Errorf("identify did not light red and amber: %v", o)
	}
	if err := backend.Wait(ctx, func(ops []ledstest.Op) bool {
		return ledstest.StateOf(ops, "green").On && !ledstest.StateOf(ops, "red").On && !ledstest.StateOf(ops, "amber").On
	}); err != nil {
		t.Fatalf("LEDs after identify: %v", backend.Ops())
	}
	m, err := scrape(ctx, "http://"+cfg.Status.MetricsListen+"/metrics")
	if err != nil || m["kioskd_connects_total"] != 1 || m["kioskd_connection_state"] == 0 {
		t.Fatalf("metrics: %v, %v", m, err)
	}
	idMu.Lock()
	if len(ids) == 0 || ids[len(ids)-1] != id {
		t.Errorf("OnSessionID heard %q, want %s last", ids, id)
	}
	idMu.Unlock()

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The datagram and the close are on their way when Run returns.
	sd.waitFor(t, ctx, "STOPPING=1", func(m []string) bool { return count(m, is("STOPPING=1")) == 1 })
	if _, err := dp.WaitForSession(ctx, id, func(s dpsim.SessionInfo) bool { return s.LastCloseReason == "normal" }); err != nil {
		t.Errorf("dpsim did not record close normal: %+v", dp.Sessions())
	}
	for _, n := range []string{"red", "amber", "green"} {
		if s := backend.State(n); s != (ledstest.State{}) {
			t.Errorf("LED %s after Run: %+v, want off", n, s)
		}
	}
	if !backend.Closed() {
		t.Error("LED backend not closed after Run")
	}
	if _, err := os.Lstat(cfg.Status.Socket); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("status socket still there after Run: %v", err)
	}
	if c, err := net.Dial("tcp", cfg.Status.MetricsListen); err == nil {
		c.Close()
		t.Error("metrics endpoint still listening after Run")
	}
	dp.Close()
	if err := goleak.Find(ignore); err != nil {
		t.Fatalf("goroutines left after Run and dpsim's Close: %v", err)
	}
}

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReportingFailuresDoNotStopTheKiosk: LED-class LEDs that do not
// exist, a status socket path that is a regular file and a metrics port
// somebody else holds are each logged, and the kiosk connects all the
// same, and stops cleanly.
func TestReportingFailuresDoNotStopTheKiosk(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	newFakeSystemd(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	cfg.LEDs.Backend = config.BackendLEDClass
	cfg.LEDs.LEDClassRoot = t.TempDir() // empty
	cfg.LEDs.Lines = map[string]string{"red": "kiosk:red", "amber": "kiosk:amber", "green": "kiosk:green"}
	if err := os.WriteFile(cfg.Status.Socket, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg.Status.MetricsListen = taken.Addr().String()

	var logs lockedBuffer
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{
		Log:       slog.New(slog.NewTextHandler(&logs, nil)),
		Observers: []func(<-chan contract.Event){rec.Observe},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 })
	for ctx.Err() == nil && !strings.Contains(logs.String(), "metrics endpoint stopped") {
		time.Sleep(20 * time.Millisecond) // the log has no change signal
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"status LEDs unavailable; running without them", "status socket unavailable", "metrics endpoint stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(cfg.Status.Socket); string(b) != "not a socket" {
		t.Errorf("the file at the status socket path was touched: %q", b)
	}
}

// TestNewFailingTurnsTheLEDsOff: the LEDs are opened first, so a config
// that cannot start (a CA file that does not exist) still leaves them off
// and closed.
func TestNewFailingTurnsTheLEDsOff(t *testing.T) {
	cfg := config.Default()
	cfg.Server.URL = "wss://dp.example/v1/session"
	t.Setenv(config.EnvToken, "token-for-the-test-0123")
	cfg.Server.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	cfg.Session.StateDir = t.TempDir()
	backend := ledstest.New(clock.Real)
	if _, err := daemon.New(cfg, daemon.Options{LEDs: backend}); !errors.Is(err, config.ErrCAFile) {
		t.Fatalf("New = %v, want ErrCAFile", err)
	}
	if !backend.Closed() {
		t.Fatal("LED backend not closed")
	}
	for _, n := range []string{"red", "amber", "green"} {
		if ops := backend.Ops(); ledstest.StateOf(ops, n).On {
			t.Errorf("LED %s on: %v", n, ops)
		}
	}
	if n := len(backend.Ops()); n < 4 {
		t.Errorf("LED ops %v: want each LED set off, then Close", backend.Ops())
	}
}

// TestSecondDaemonIsRefused: one kioskd per state directory. A second one
// fails with session.ErrLocked naming the holder, before it touches the
// LEDs (which belong to the first); once the first is closed, the state
// directory is free again.
func TestSecondDaemonIsRefused(t *testing.T) {
	cfg := config.Default()
	cfg.Server.URL = "ws://127.0.0.1:1/v1/session"
	t.Setenv(config.EnvToken, "")
	cfg.Server.TokenFile = ""
	cfg.Session.StateDir = t.TempDir()
	cfg.Media.Camera, cfg.Media.Microphone, cfg.Media.Speaker = "none", "none", "none"
	first, err := daemon.New(cfg, daemon.Options{LEDs: ledstest.New(clock.Real)})
	if err != nil {
		t.Fatal(err)
	}
	second := ledstest.New(clock.Real)
	_, err = daemon.New(cfg, daemon.Options{LEDs: second})
	if !errors.Is(err, session.ErrLocked) || !strings.Contains(err.Error(), "PID ") {
		t.Fatalf("second daemon: %v, want session.ErrLocked naming a PID", err)
	}
	if ops := second.Ops(); len(ops) != 0 {
		t.Fatalf("the refused daemon drove the LEDs: %v", ops)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := daemon.New(cfg, daemon.Options{LEDs: ledstest.New(clock.Real)})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	third.Close()
}

// TestLEDCommandsWithoutLEDs: a kiosk with leds.backend: none answers the
// staff tools with status.ErrNoLEDs instead of playing a show nobody sees.
func TestLEDCommandsWithoutLEDs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{Log: testlog.New(t, slog.LevelInfo), Observers: []func(<-chan contract.Event){rec.Observe}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 })
	err = status.LEDCommand(ctx, cfg.Status.Socket, status.LampTestCommand, nil)
	if err == nil || !strings.Contains(err.Error(), status.ErrNoLEDs.Error()) {
		t.Fatalf("lamp test without LEDs: %v", err)
	}
}
