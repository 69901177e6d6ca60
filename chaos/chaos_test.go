package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/chaos"
	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/logging"
)

// logBuf collects kioskd's JSON log lines and lets the test wait for one.
type logBuf struct {
	mu      sync.Mutex
	part    []byte
	lines   []map[string]any
	raw     []string
	changed chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{changed: make(chan struct{})} }

func (b *logBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.part = append(b.part, p...)
	for {
		i := bytes.IndexByte(b.part, '\n')
		if i < 0 {
			break
		}
		line := string(b.part[:i])
		b.part = b.part[i+1:]
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			m = map[string]any{"msg": line}
		}
		b.lines = append(b.lines, m)
		b.raw = append(b.raw, line)
	}
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

// wait returns the index of the first line at or after from that matches.
func (b *logBuf) wait(within time.Duration, from int, match func(map[string]any) bool) (int, map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		b.mu.Lock()
		for i := from; i < len(b.lines); i++ {
			if match(b.lines[i]) {
				l := b.lines[i]
				b.mu.Unlock()
				return i, l, nil
			}
		}
		from = max(from, len(b.lines))
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

func (b *logBuf) slice(from, to int) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.lines[from:to]...)
}

func (b *logBuf) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.raw[max(0, len(b.raw)-n):], "\n")
}

// say logs s, and prints it when the test is not verbose (make chaos runs
// the test binary directly, so its summary shows on success too).
func say(t *testing.T, s string) {
	t.Helper()
	t.Log(s)
	if !testing.Verbose() {
		fmt.Fprintln(os.Stderr, strings.TrimRight(s, "\n"))
	}
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func isConnected(m map[string]any) bool { return str(m, "connection_state") == "Connected" }

// isEnd matches the line that says how a call ended: a failed connect
// (docs/BEHAVIOUR.md section 2) or a disconnect after Connected (section 3).
func isEnd(m map[string]any) bool {
	msg := str(m, "msg")
	return strings.HasPrefix(msg, "connect failed: ") || strings.HasPrefix(msg, "disconnected: ") || strings.HasPrefix(msg, "media failed: ")
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// kind is what a cut aims at; one of each per round, in a shuffled order,
// so that even a short run cuts in every step.
type kind int

const (
	kAccepted kind = iota
	kUpgraded
	kSession
	kSearching
	kAssets
	kConnecting
	kReady     // just after `ready`: races the kiosk's own Connected
	kConnected // well after `ready`: the kiosk is Connected
	nKinds
)

func (k kind) String() string {
	return [...]string{"during the upgrade", "after the upgrade", "after session", "in Searching", "in DownloadingAssets", "in Connecting", "at ready", "while Connected"}[k]
}

// style is how the moment of a cut is chosen once the aimed step is
// reached: at once when its frame is through, in the middle of that frame,
// after a random delay, or after a random delay during which the server's
// bytes are held back (so the cut surely falls in that step).
type style int

const (
	atOnce style = iota
	midFrame
	held
	delayed
)

func randomStyle(rng *rand.Rand) style {
	return [...]style{atOnce, atOnce, midFrame, midFrame, held, delayed, delayed, delayed}[rng.IntN(8)]
}

func plan(rng *rand.Rand, k kind, st style, long bool) chaos.Plan {
	p := chaos.Plan{Cut: true, Reset: rng.IntN(3) == 0}
	delay := func(d time.Duration) time.Duration {
		switch st {
		case atOnce:
			return 0
		case midFrame:
			p.MidFrame = true
			return 0
		case held:
			p.Hold = true
		}
		return time.Duration(rng.Int64N(int64(d)))
	}
	switch k {
	case kAccepted:
		p.At, p.Delay = chaos.Accepted, delay(5*time.Millisecond)
	case kUpgraded:
		p.At, p.Delay = chaos.Upgraded, delay(5*time.Millisecond)
	case kSession:
		p.At, p.Delay = chaos.Session, delay(5*time.Millisecond)
	case kSearching:
		p.At, p.Delay = chaos.Searching, delay(25*time.Millisecond)
	case kAssets:
		p.At, p.Delay = chaos.Assets, delay(25*time.Millisecond)
	case kConnecting:
		p.At, p.Delay = chaos.Connecting, delay(60*time.Millisecond)
	case kReady:
		p.At, p.Delay = chaos.Ready, delay(30*time.Millisecond)
	case kConnected:
		span := 1200 * time.Millisecond
		if long {
			span = 3 * time.Second
		}
		p.At, p.Delay = chaos.Ready, 400*time.Millisecond+time.Duration(rng.Int64N(int64(span)))
	}
	if p.MidFrame && p.At == chaos.Upgraded {
		p.At = chaos.Accepted // the frame that reaches Upgraded is the upgrade's response
	}
	return p
}

// aim is one planned cut.
type aim struct {
	k  kind
	st style
}

// sweep aims at every step in every style (at once three times: a cut
// racing the kiosk's own next send is the likeliest to be misreported),
// in a seeded order.
func sweep(rng *rand.Rand) []aim {
	var out []aim
	for k := kAccepted; k < kConnected; k++ {
		for _, st := range []style{atOnce, atOnce, atOnce, midFrame, held} {
			out = append(out, aim{k, st})
		}
	}
	out = append(out, aim{kConnected, delayed})
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestChaos runs kioskd (the daemon package: config, media, supervisor,
// JSON logs) through a chaos proxy to dpsim, cutting the control socket at
// random moments of every step and while Connected. After each cut kioskd
// must log the reaction that fits the moment (serverConnectionFailed
// before Connected, controlDisconnected after), come back to Connected,
// and keep the session id whenever it had one the server kept. At the end
// goroutines and descriptors must be back where they were.
//
// A run starts with a sweep (every step, every style: 36 cuts), then
// CHAOS_CUTS random ones (default 30; `make chaos`: 250); CHAOS_SEED
// replays a run's plan.
// goroutineSlack is how far above the baseline the goroutine count may end.
const goroutineSlack = 2

func TestChaos(t *testing.T) {
	cuts := 30
	if v := os.Getenv("CHAOS_CUTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("CHAOS_CUTS=%q", v)
		}
		cuts = n
	}
	long := cuts > 50
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q", v)
		}
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	aims := sweep(rng)
	if testing.Short() {
		aims, cuts = aims[:8], 8
	}
	random := cuts
	cuts += len(aims) + 1 // and the first, while Connected
	say(t, fmt.Sprintf("chaos: %d cuts (%d sweeping, %d random), seed %d (replay: CHAOS_SEED=%d CHAOS_CUTS=%d)", cuts, len(aims), random, seed, seed, random))

	// Every wait is bounded: a kioskd that wedges fails the test in
	// stepWait, with a dump of every goroutine.
	const stepWait = 30 * time.Second

	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.Scenario{
		SearchingDelay: 25 * time.Millisecond, AssetsDelay: 25 * time.Millisecond, ConnectingDelay: 25 * time.Millisecond,
	}})
	upstream := strings.TrimPrefix(strings.TrimSuffix(dp.URL, dpsim.ControlPath), "ws://")

	plans := make(chan chaos.Plan)
	stop := make(chan struct{})
	proxy, err := chaos.New(upstream, func(int) (chaos.Plan, bool) {
		select {
		case p := <-plans:
			return p, true
		case <-stop:
			return chaos.Plan{}, false
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	// kioskd, as `kioskd run` builds it (no LEDs, the status socket in dir).
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(dp.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`server:
  url: ws://%s%s
  token_file: %s
session:
  state_dir: %s
  step_timeout: 10s
  connect_timeout: 20s
  reconnect: {initial_delay: 10ms, max_delay: 200ms}
media:
  camera: test
  width: 160
  height: 120
  fps: 10
  microphone: test
  speaker: none
status:
  socket: %s
`, proxy.Addr(), dpsim.ControlPath, token, filepath.Join(dir, "state"), filepath.Join(dir, "status.sock"))
	cfg, err := config.Parse([]byte(yaml), "chaos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogBuf()
	log, tracker, err := logging.New(logging.FormatJSON, logs, logging.Options{Secrets: []string{dp.Token}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Options{Log: log, OnSessionID: func(id string) {
		if id == "" {
			tracker.Clear()
		} else {
			tracker.Set(id)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopKiosk := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()
	shutdown := func() {
		stopKiosk()
		close(stop)
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
		proxy.Close()
	}
	defer func() {
		select {
		case <-stop:
		default:
			shutdown()
		}
	}()

	fatal := func(format string, args ...any) {
		t.Helper()
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		dump := filepath.Join(os.TempDir(), fmt.Sprintf("chaos-%d-goroutines.txt", seed))
		_ = os.WriteFile(dump, buf, 0o644)
		t.Fatalf("seed %d: %s\nkioskd's last lines:\n%s\n(goroutines: %s)", seed, fmt.Sprintf(format, args...), logs.tail(25), dump)
	}
	push := func(p chaos.Plan) {
		select {
		case plans <- p:
		case <-time.After(stepWait):
			fatal("kioskd did not connect again (waiting to hand out: %s)", p)
		}
	}
	outcome := func() chaos.Outcome {
		select {
		case o := <-proxy.Outcomes():
			return o
		case <-time.After(stepWait):
			fatal("no outcome from the proxy")
		}
		panic("unreachable")
	}

	// Start: the first connection is cut while Connected, after the
	// baseline is taken.
	first := chaos.Plan{Cut: true, At: chaos.Ready, Delay: 3 * time.Second}
	push(first)
	_, l0, err := logs.wait(stepWait, 0, isConnected)
	if err != nil {
		fatal("never Connected")
	}
	stored := ""
	time.Sleep(2 * time.Second)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	t.Logf("baseline (Connected, %s): %d goroutines, %d fds", str(l0, "session_id"), baseG, baseFD)
	from := 0

	type key struct {
		phase chaos.Phase
		end   string
	}
	coverage := map[key]int{}
	byKind := map[kind]int{}
	orphans, resumed, fresh, late := 0, 0, 0, 0
	var order []kind
	for n := 0; n < cuts; n++ {
		var a aim
		if n == 0 {
			a = aim{kConnected, delayed} // the first plan, handed out above
		} else if len(aims) > 0 {
			a, aims = aims[0], aims[1:]
		} else {
			if len(order) == 0 {
				order = make([]kind, nKinds)
				for i := range order {
					order[i] = kind(i)
				}
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			}
			a, order = aim{order[0], randomStyle(rng)}, order[1:]
		}
		k := a.k
		if n > 0 {
			// Now and then the server ends the session, so the next cuts
			// hit a fresh session's steps, with their delays.
			if stored != "" && rng.IntN(7) == 0 {
				push(chaos.Plan{})
				i, l, err := logs.wait(stepWait, from, isConnected)
				if err != nil {
					fatal("not Connected on an uncut connection")
				}
				if id := str(l, "session_id"); id != stored {
					fatal("Connected with %s, want the stored %s", id, stored)
				}
				dp.CloseAll("sessionTimeout")
				if o := outcome(); o.Cut {
					fatal("an uncut connection was cut: %s", o)
				}
				j, l, err := logs.wait(stepWait, i, isEnd)
				if err != nil || str(l, "disconnect_reason") != "sessionTimeout" {
					fatal("after close sessionTimeout: %v %v", l, err)
				}
				stored, from = "", j+1
				fresh++
			}
			push(plan(rng, k, a.st, long))
		}
		o := outcome()
		if !o.Cut {
			fatal("cut %d (%s, %s): the connection ended without the cut: %s", n+1, k, o.Plan, o)
		}
		i, end, err := logs.wait(stepWait, from, isEnd)
		if err != nil {
			fatal("cut %d (%s): kioskd logged no reaction", n+1, o)
		}
		connected := ""
		for _, l := range logs.slice(from, i) {
			if isConnected(l) {
				connected = str(l, "session_id")
			}
		}
		got := str(end, "error_name")
		if r := str(end, "disconnect_reason"); r != "" {
			got = r
		}
		// The reaction must fit the moment of the cut: before Connected
		// the control socket was lost while connecting; after it, the
		// control channel is gone and the session resumes.
		want := "serverConnectionFailed"
		if connected != "" {
			want = "controlDisconnected"
			if stored != "" && connected != stored {
				fatal("cut %d (%s): Connected with %s, want the stored session %s", n+1, o, connected, stored)
			}
			if stored != "" {
				resumed++
			}
			stored = connected
		}
		if got != want {
			fatal("cut %d (%s; kioskd Connected before it: %v): kioskd logged %q (%s), want %q", n+1, o, connected != "", got, str(end, "msg"), want)
		}
		if connected != "" && o.Phase < chaos.Ready {
			fatal("cut %d (%s): kioskd was Connected before the server's ready", n+1, o)
		}
		if connected == "" && o.Phase >= chaos.Ready {
			// The server sent ready, the kiosk was not Connected yet: the
			// server keeps a session the kiosk never stored. It starts a
			// fresh one; the orphan expires after the resume window.
			if stored == "" {
				orphans++
			}
		}
		if k == kConnected && connected == "" {
			// Aimed at a Connected kiosk, but it was not Connected yet
			// (its reaction was checked above). Now and then, on a
			// loaded machine, is fine; often means it does not connect.
			late++
			if late > 2 && late*4 > byKind[kConnected]+1 {
				fatal("cut %d (%s): kioskd was not Connected %s after ready, %d times out of %d", n+1, o, o.Plan.Delay, late, byKind[kConnected]+1)
			}
		}
		coverage[key{o.Phase, got}]++
		byKind[k]++
		from = i + 1
	}

	// The last connection is not cut: kioskd must come back to Connected
	// with the stored id, and everything must be back to the baseline.
	push(chaos.Plan{})
	_, l, err := logs.wait(stepWait, from, isConnected)
	if err != nil {
		fatal("not Connected after the last cut")
	}
	if id := str(l, "session_id"); stored != "" && id != stored {
		fatal("Connected with %s after the last cut, want %s", id, stored)
	}
	var g, fds int
	deadline := time.Now().Add(15 * time.Second)
	for {
		runtime.GC()
		g, fds = runtime.NumGoroutine(), openFDs(t)
		if (g <= baseG+goroutineSlack && fds <= baseFD) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "chaos: %d cuts (seed %d): goroutines %d → %d, fds %d → %d; %d resumed the same session, %d fresh sessions forced, %d orphaned by a cut between ready and Connected, %d aimed at Connected came before it\n",
		cuts, seed, baseG, g, baseFD, fds, resumed, fresh, orphans, late)
	for k := kind(0); k < nKinds; k++ {
		fmt.Fprintf(&sb, "  aimed %-22s %3d\n", k.String()+":", byKind[k])
	}
	for ph := chaos.Accepted; ph <= chaos.Closed; ph++ {
		for _, e := range []string{"serverConnectionFailed", "controlDisconnected"} {
			if c := coverage[key{ph, e}]; c > 0 {
				fmt.Fprintf(&sb, "  cut in %-26s → %-22s %3d\n", ph, e, c)
			}
		}
	}
	say(t, sb.String())
	// A leak grows with the cuts (dozens here); a goroutine or two of
	// pion's still winding down on a loaded machine is not one.
	if g > baseG+goroutineSlack {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines grew: %d → %d\n%s", baseG, g, buf)
	}
	if fds > baseFD {
		t.Errorf("file descriptors grew: %d → %d", baseFD, fds)
	}
	shutdown()
}
