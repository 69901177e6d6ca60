package session_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/media/mediatest"
	"github.com/kioskd/kioskd/rtc"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// connects counts EventState Connected.
func connects(evs []contract.Event) int {
	n := 0
	for _, e := range evs {
		if e.Kind == contract.EventState && e.State == contract.Connected {
			n++
		}
	}
	return n
}

func lastConnected(evs []contract.Event) contract.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == contract.EventState && evs[i].State == contract.Connected {
			return evs[i]
		}
	}
	return contract.Event{}
}

func nthConnected(n int) func([]contract.Event) bool {
	return func(evs []contract.Event) bool { return connects(evs) >= n }
}

// percentages lists the percentageLoaded of every state event.
func percentages(evs []contract.Event) []int {
	var p []int
	for _, e := range evs {
		if e.Kind == contract.EventState {
			p = append(p, e.State.Percentage())
		}
	}
	return p
}

type kiosk struct {
	dia    *dpv1.Dialect // for network changes (restart_test.go)
	sup    *session.Supervisor
	rec    *sessiontest.Recorder
	store  *session.Store
	cancel context.CancelFunc
	done   chan struct{}
}

type kioskOpt func(*session.Config, *session.Options)

// startKiosk runs a supervisor against dp with synthetic media (small, to
// spare the CPU) until the test ends.
func startKiosk(t *testing.T, dp *dptest.Server, stateDir string, opts ...kioskOpt) *kiosk {
	t.Helper()
	cfg := session.Config{
		Resume:      true,
		StepTimeout: 10 * time.Second, ConnectTimeout: 30 * time.Second,
		InitialDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
	}
	o := session.Options{
		Media: media.NewSource(media.Config{Camera: "test", Width: 160, Height: 120, FPS: 10, Microphone: "test"}, nil),
		Store: session.NewStore(stateDir),
		Rand:  jitter,
		Log:   testlog.New(t, slog.LevelDebug),
	}
	for _, f := range opts {
		f(&cfg, &o)
	}
	d, err := dpv1.New(dpv1.Config{
		URL: dp.URL, Token: dp.Token,
		Client: dpwire.ClientInfo{Name: "kioskd-test", Video: true, Audio: true},
		Peer:   rtc.PeerOptions{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := session.New(cfg, d, o)
	if err != nil {
		t.Fatal(err)
	}
	k := &kiosk{dia: d, sup: sup, rec: sessiontest.Record(sup), store: o.Store, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go func() {
		defer close(k.done)
		_ = sup.Run(ctx)
		o.Media.Close()
	}()
	t.Cleanup(k.stop)
	return k
}

func (k *kiosk) stop() {
	k.cancel()
	<-k.done
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestConnectsWithTheExactStepsAndSendsMedia: the normal connect, over a
// real websocket and real WebRTC, reports 25, 50, 75, 100 once each, and
// the server receives the kiosk's VP8 frames and Opus packets.
func TestConnectsWithTheExactStepsAndSendsMedia(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	k := startKiosk(t, dp, t.TempDir())
	evs := k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	if got := fmt.Sprint(percentages(evs)); got != "[25 50 75 100]" {
		t.Fatalf("state percentages %s, want [25 50 75 100]\n%s", got, sessiontest.Describe(evs))
	}
	id := lastConnected(evs).SessionID
	if id == "" {
		t.Fatal("Connected without a session id")
	}
	if snap := k.sup.Snapshot(); snap.State != contract.Connected || snap.SessionID != id {
		t.Fatalf("snapshot %+v", snap)
	}
	if _, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for _, s := range ss {
			if s.ID == id && s.Video.Frames >= 3 && s.Video.Width == 160 && s.Video.Height == 120 && s.Audio.Packets >= 10 {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("server did not receive the kiosk's media: %+v", dp.Sessions())
	}
	st, err := k.store.Load()
	if err != nil || st.SessionID != id {
		t.Fatalf("stored session %+v, %v; want %s", st, err, id)
	}
}

// TestDisconnectReasons: each reason of docs/BEHAVIOUR.md section 3, produced by the
// real server, gets its reaction: the same id resumed or a new one.
func TestDisconnectReasons(t *testing.T) {
	cases := []struct {
		reason   string // "" = drop the socket without a close message
		want     contract.DisconnectReason
		sameID   bool
		resumeOK bool
	}{
		{"controlDisconnected", contract.ReasonControlDisconnected, true, true},
		{"", contract.ReasonControlDisconnected, true, true},
		{"sessionTimeout", contract.ReasonSessionTimeout, false, false},
		{"conversationEnded", contract.ReasonConversationEnded, false, false},
		{"normal", contract.ReasonNormal, true, true},
	}
	for _, c := range cases {
		name := c.reason
		if name == "" {
			name = "drop"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
			k := startKiosk(t, dp, t.TempDir())
			first := lastConnected(k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))).SessionID
			if c.reason == "" {
				if dp.Drop() != 1 {
					t.Fatal("nothing to drop")
				}
			} else if dp.CloseAll(c.reason) != 1 {
				t.Fatal("nothing to close")
			}
			evs := k.rec.WaitFor(t, ctx, "Connected again", nthConnected(2))
			var disc *contract.Event
			for i := range evs {
				if evs[i].Kind == contract.EventDisconnected {
					disc = &evs[i]
				}
			}
			if disc == nil || disc.Reason != c.want || disc.ByUs {
				t.Fatalf("disconnect event %+v, want reason %v\n%s", disc, c.want, sessiontest.Describe(evs))
			}
			for _, e := range evs {
				if e.Kind == contract.EventRetry {
					t.Fatalf("reacted with a backoff delay; docs/BEHAVIOUR.md section 3 says at once\n%s", sessiontest.Describe(evs))
				}
			}
			again := lastConnected(evs)
			if (again.SessionID == first) != c.sameID {
				t.Fatalf("after %s: id %s → %s, want same=%v", name, first, again.SessionID, c.sameID)
			}
			if again.Resumed != c.resumeOK {
				t.Fatalf("Resumed = %v, want %v", again.Resumed, c.resumeOK)
			}
			if st, _ := k.store.Load(); st.SessionID != again.SessionID {
				t.Fatalf("stored %q, want the current session %q", st.SessionID, again.SessionID)
			}
		})
	}
}

// flakyMedia fails Tracks with name for the first n calls, then works.
type flakyMedia struct {
	session.MediaSource
	name  contract.ErrorName
	n     atomic.Int32
	calls atomic.Int32
}

func (f *flakyMedia) Tracks(ctx context.Context) ([]webrtc.TrackLocal, error) {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return nil, contract.NewConnectError(f.name, errors.New("device not there (test)"))
	}
	return f.MediaSource.Tracks(ctx)
}

// TestConnectErrors: each error name of docs/BEHAVIOUR.md section 2, produced for real,
// gives that name (usable with errors.As through the event), its reaction,
// and a return to Connected.
func TestConnectErrors(t *testing.T) {
	type check func(t *testing.T, evs []contract.Event, k *kiosk, dp *dptest.Server)
	noBackoffBeforeReconnect := func(t *testing.T, evs []contract.Event, k *kiosk, dp *dptest.Server) {
		for _, e := range evs {
			if e.Kind == contract.EventRetry {
				t.Fatalf("noSessionToResume must reconnect at once\n%s", sessiontest.Describe(evs))
			}
		}
	}
	cases := []struct {
		name     contract.ErrorName
		scenario func(*dpsim.Scenario)
		kopt     kioskOpt
		prepare  func(t *testing.T, dir string, dp *dptest.Server) // before the kiosk starts
		during   func(t *testing.T, k *kiosk)                      // after the first failure
		check    check
	}{
		{name: contract.NoUserMedia, kopt: func(c *session.Config, o *session.Options) {
			f := &flakyMedia{MediaSource: o.Media, name: contract.NoUserMedia}
			f.n.Store(2)
			o.Media = f
		}},
		{name: contract.NoScene, scenario: func(s *dpsim.Scenario) { s.NoScene = 3 }},
		{name: contract.ServerConnectionFailed, scenario: func(s *dpsim.Scenario) {
			s.Hostile = 1
			s.HostileModes = []dpsim.HostileMode{dpsim.HostileMalformed}
		}},
		{name: contract.NotSupported, kopt: func(c *session.Config, o *session.Options) {
			f := &flakyMedia{MediaSource: o.Media, name: contract.NotSupported}
			f.n.Store(1)
			o.Media = f
			ch := make(chan struct{}, 1)
			o.DeviceChanges = ch
			changes[o] = ch
		}, during: func(t *testing.T, k *kiosk) {
			// Parked: no retry, no second attempt, until the devices change.
			if evs, _ := k.rec.Snapshot(); countKind(evs, contract.EventRetry) != 0 {
				t.Fatalf("notSupported was retried\n%s", sessiontest.Describe(evs))
			}
			for _, ch := range changes {
				ch <- struct{}{}
			}
		}},
		{name: contract.MediaStreamFailed, scenario: func(s *dpsim.Scenario) {
			s.ICEFailure = 1
			s.MediaTimeout = 3 * time.Second
		}},
		{name: contract.SessionTimeout, scenario: func(s *dpsim.Scenario) {
			s.Stall = 1
			s.StallAt = dpsim.StepAssets
		}, kopt: func(c *session.Config, o *session.Options) { c.StepTimeout = 500 * time.Millisecond }},
		{name: contract.ControlFailed, scenario: func(s *dpsim.Scenario) { s.ControlFailed = 1 }},
		{name: contract.NoSessionToResume, prepare: func(t *testing.T, dir string, dp *dptest.Server) {
			if err := session.NewStore(dir).Save(session.Stored{SessionID: "gone-long-ago", ServerURL: dp.URL}); err != nil {
				t.Fatal(err)
			}
		}, check: noBackoffBeforeReconnect},
	}
	for _, c := range cases {
		t.Run(c.name.String(), func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			sc := dpsim.DefaultScenario()
			if c.scenario != nil {
				c.scenario(&sc)
			}
			dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
			dir := t.TempDir()
			if c.prepare != nil {
				c.prepare(t, dir, dp)
			}
			var opts []kioskOpt
			if c.kopt != nil {
				opts = append(opts, c.kopt)
			}
			k := startKiosk(t, dp, dir, opts...)
			evs := k.rec.WaitFor(t, ctx, "a "+c.name.String()+" failure", func(evs []contract.Event) bool {
				for _, e := range evs {
					if e.Kind == contract.EventConnectFailed {
						return true
					}
				}
				return false
			})
			var failed contract.Event
			for _, e := range evs {
				if e.Kind == contract.EventConnectFailed {
					failed = e
					break
				}
			}
			if failed.ErrorName != c.name {
				t.Fatalf("first failure %v, want %v\n%s", failed.ErrorName, c.name, sessiontest.Describe(evs))
			}
			if c.during != nil {
				c.during(t, k)
			}
			evs = k.rec.WaitFor(t, ctx, "Connected after "+c.name.String(), nthConnected(1))
			if c.check != nil {
				c.check(t, evs, k, dp)
			}
			if c.name == contract.NoScene {
				// Retried with growing delays (the test's jitter draws near
				// the ceiling), three refusals, then connected.
				var delays []time.Duration
				for _, e := range evs {
					if e.Kind == contract.EventRetry {
						delays = append(delays, e.Delay)
					}
				}
				if len(delays) != 3 {
					t.Fatalf("%d retries, want 3\n%s", len(delays), sessiontest.Describe(evs))
				}
				if !(delays[0] < delays[1] && delays[1] < delays[2]) {
					t.Fatalf("delays %v do not grow", delays)
				}
			}
		})
	}
}

var changes = map[*session.Options]chan struct{}{}

func countKind(evs []contract.Event, k contract.EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func init() {
	// Draw backoff delays near their ceiling so "growing" is observable;
	// full jitter itself is covered by TestBackoffGrowsToMaxWithFullJitter.
	jitter = func() float64 { return 0.999 }
}

var jitter func() float64

// TestHostileServer: garbage from the server gives a clear error and a
// defined reaction, never a panic, and the kiosk comes back.
func TestHostileServer(t *testing.T) {
	for _, mode := range dpsim.AllHostileModes {
		t.Run(string(mode), func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			sc := dpsim.DefaultScenario()
			sc.Hostile = 1
			sc.HostileModes = []dpsim.HostileMode{mode}
			dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
			k := startKiosk(t, dp, t.TempDir())
			evs := k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
			switch mode {
			case dpsim.HostileMalformed, dpsim.HostileOversized, dpsim.HostileCandidateFlood:
				if countKind(evs, contract.EventConnectFailed) != 1 || evs[len(evs)-1].State != contract.Connected {
					t.Fatalf("want one serverConnectionFailed then Connected\n%s", sessiontest.Describe(evs))
				}
				for _, e := range evs {
					if e.Kind == contract.EventConnectFailed && e.ErrorName != contract.ServerConnectionFailed {
						t.Fatalf("failure %v, want serverConnectionFailed", e.ErrorName)
					}
				}
			default:
				if n := countKind(evs, contract.EventConnectFailed); n != 0 {
					t.Fatalf("%s should be survived without failing\n%s", mode, sessiontest.Describe(evs))
				}
				if got := fmt.Sprint(percentages(evs)); got != "[25 50 75 100]" {
					t.Fatalf("states %s, want each once: [25 50 75 100]", got)
				}
			}
		})
	}
}

// TestSilentServerIsDeadAfterThreeHeartbeats: a server that stops talking
// after Connected is found dead by the heartbeat; the session is resumed.
func TestSilentServerIsDeadAfterThreeHeartbeats(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sc := dpsim.DefaultScenario()
	sc.Silence = 1
	sc.SilenceAt = dpsim.StepConnected
	dp := dptest.NewServer(t, dpsim.Config{Heartbeat: dpwire.MinHeartbeat, Scenario: sc})
	k := startKiosk(t, dp, t.TempDir())
	evs := k.rec.WaitFor(t, ctx, "Connected twice", nthConnected(2))
	var reason contract.DisconnectReason
	for _, e := range evs {
		if e.Kind == contract.EventDisconnected {
			reason = e.Reason
		}
	}
	if reason != contract.ReasonControlDisconnected {
		t.Fatalf("silence gave %v, want controlDisconnected\n%s", reason, sessiontest.Describe(evs))
	}
	var ids []string
	for _, e := range evs {
		if e.Kind == contract.EventState && e.State == contract.Connected {
			ids = append(ids, e.SessionID)
		}
	}
	if ids[0] != ids[1] {
		t.Fatalf("resumed as %s, want %s", ids[1], ids[0])
	}
}

// TestCorruptStateFileGivesAFreshSession and the state is rewritten.
func TestCorruptStateFileGivesAFreshSession(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, session.StateFileName), []byte("{not json"), 0o600)
	k := startKiosk(t, dp, dir)
	id := lastConnected(k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))).SessionID
	if st, err := k.store.Load(); err != nil || st.SessionID != id {
		t.Fatalf("state file not rewritten: %+v %v", st, err)
	}
}

// TestUnwritableStateDirStillConnectsAndResumes: the disk refuses the
// state file; the kiosk warns, connects, and still resumes from memory.
func TestUnwritableStateDirStillConnectsAndResumes(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, []byte("x"), 0o600)
	k := startKiosk(t, dp, filepath.Join(notADir, "state"))
	first := lastConnected(k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))).SessionID
	dp.CloseAll("controlDisconnected")
	again := lastConnected(k.rec.WaitFor(t, ctx, "Connected again", nthConnected(2)))
	if again.SessionID != first || !again.Resumed {
		t.Fatalf("resumed %s (resumed=%v), want %s", again.SessionID, again.Resumed, first)
	}
}

// TestShutdownSendsNormalAndRestartResumes: kioskd's own shutdown closes
// with reason normal and keeps the stored session; a new process resumes it.
func TestShutdownSendsNormalAndRestartResumes(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	dir := t.TempDir()
	k := startKiosk(t, dp, dir)
	id := lastConnected(k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))).SessionID
	k.stop()
	evs := k.rec.WaitFor(t, ctx, "stopped", func(evs []contract.Event) bool { return countKind(evs, contract.EventStopped) == 1 })
	if last := evs[len(evs)-1]; last.Kind != contract.EventStopped {
		t.Fatalf("last event %v, want stopped\n%s", last.Kind, sessiontest.Describe(evs))
	}
	var down *contract.Event
	for i := range evs {
		if evs[i].Kind == contract.EventDisconnected {
			down = &evs[i]
		}
	}
	if down == nil || down.Reason != contract.ReasonNormal || !down.ByUs {
		t.Fatalf("shutdown disconnect %+v, want normal by kioskd", down)
	}
	if _, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for _, s := range ss {
			if s.ID == id && s.LastCloseReason == "normal" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("server did not get close normal: %+v", dp.Sessions())
	}
	if st, err := session.NewStore(dir).Load(); err != nil || st.SessionID != id {
		t.Fatalf("shutdown lost the stored session: %+v %v", st, err)
	}
	k2 := startKiosk(t, dp, dir)
	again := lastConnected(k2.rec.WaitFor(t, ctx, "Connected after restart", nthConnected(1)))
	if again.SessionID != id || !again.Resumed {
		t.Fatalf("restart gave %s (resumed=%v), want %s resumed", again.SessionID, again.Resumed, id)
	}
}

// TestNoGoroutineLeakOverReconnects: many controlDisconnected cycles in one
// process leave no goroutines behind.
func TestNoGoroutineLeakOverReconnects(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	k := startKiosk(t, dp, t.TempDir())
	k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	base := runtime.NumGoroutine()
	const cycles = 10
	for i := 0; i < cycles; i++ {
		dp.CloseAll("controlDisconnected")
		k.rec.WaitFor(t, ctx, "Connected again", nthConnected(i+2))
	}
	// Goroutines wind down asynchronously (pion's timers); allow a bounded wait.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+10 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+10 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d after %d cycles, baseline %d\n%s", n, cycles, base, buf[:runtime.Stack(buf, true)])
	}
}

// TestConnectYieldsTheIDOrANamedError: Connect returns the session id, or
// the failure's name usable with errors.As and errors.Is.
func TestConnectYieldsTheIDOrANamedError(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	sc := dpsim.DefaultScenario()
	sc.NoScene = 1
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	k := startKiosk(t, dp, t.TempDir())
	_, err := k.sup.Connect(ctx)
	var ce *contract.ConnectError
	if !errors.As(err, &ce) || ce.Name != contract.NoScene || !errors.Is(err, contract.ErrNoScene) {
		t.Fatalf("first Connect = %v, want noScene", err)
	}
	id, err := k.sup.Connect(ctx)
	if err != nil || id == "" {
		t.Fatalf("second Connect = %q, %v; want the session id", id, err)
	}
	if snap := k.sup.Snapshot(); snap.SessionID != id {
		t.Fatalf("snapshot id %q, want %q", snap.SessionID, id)
	}
}

// TestTakenOverSessionIsNotFoughtFor: a second kiosk resumes the first
// one's session (a copied state file); the first is told noSessionToResume
// and starts a fresh session instead of taking it back.
func TestTakenOverSessionIsNotFoughtFor(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	dirA := t.TempDir()
	a := startKiosk(t, dp, dirA)
	first := lastConnected(a.rec.WaitFor(t, ctx, "A Connected", nthConnected(1))).SessionID
	dirB := t.TempDir()
	data, err := os.ReadFile(filepath.Join(dirA, session.StateFileName))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dirB, session.StateFileName), data, 0o600)
	b := startKiosk(t, dp, dirB)
	if got := lastConnected(b.rec.WaitFor(t, ctx, "B Connected", nthConnected(1))); got.SessionID != first || !got.Resumed {
		t.Fatalf("B got %s resumed=%v, want %s resumed", got.SessionID, got.Resumed, first)
	}
	again := lastConnected(a.rec.WaitFor(t, ctx, "A Connected again", nthConnected(2)))
	if again.SessionID == first {
		t.Fatalf("A took the session back from B")
	}
	if st, _ := a.store.Load(); st.SessionID != again.SessionID {
		t.Fatalf("A stored %q, want its fresh session %q", st.SessionID, again.SessionID)
	}
}

// TestOptionalCameraPluggedInMidSession: a kiosk whose optional camera is
// missing connects without it; dpsim receives its audio and no video (the
// call's empty video send track is not accounted: no frames, no size).
// Then the camera is plugged in and the devices change: dpsim counts
// 640x480 frames for the same session id, on the same connection — no
// reconnect, no resume, no error, no state change, the camera opened once.
func TestOptionalCameraPluggedInMidSession(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cam := mediatest.NewCamera()
	cam.SetMissing(true)
	devChanges := make(chan struct{}, 1)
	k := startKiosk(t, dp, t.TempDir(), func(c *session.Config, o *session.Options) {
		o.Media = media.NewSource(media.Config{
			Camera: "/dev/v4l/by-id/usb-Acme_Cam-video-index0", CameraRequired: false,
			Width: 640, Height: 480, FPS: 10, Microphone: "test", MicrophoneRequired: true,
		}, o.Log, media.WithCamera(cam))
		o.DeviceChanges = devChanges
	})
	id := lastConnected(k.rec.WaitFor(t, ctx, "Connected without the camera", nthConnected(1))).SessionID
	if id == "" {
		t.Fatal("Connected without a session id")
	}
	ss, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for _, s := range ss {
			if s.ID == id && s.Audio.Packets >= 10 {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("dpsim did not receive the kiosk's audio: %+v", dp.Sessions())
	}
	for _, s := range ss {
		if s.ID == id && (s.Video.Packets != 0 || s.Video.Frames != 0 || s.Video.Width != 0 || s.Video.Height != 0) {
			t.Fatalf("dpsim accounted video before the camera was there: %+v", s.Video)
		}
	}
	if opens, _, _, _ := cam.Counts(); opens != 0 {
		t.Fatalf("camera opened %d times while missing", opens)
	}

	// The integrator plugs the camera in; the device watcher notices.
	cam.SetMissing(false)
	devChanges <- struct{}{}
	ss, err = dp.WaitForSession(ctx, id, func(s dpsim.SessionInfo) bool {
		return s.Video.Frames >= 5 && s.Video.Width == 640 && s.Video.Height == 480
	})
	if err != nil {
		t.Fatalf("dpsim did not receive the camera plugged in mid-session: %+v", dp.Sessions())
	}
	var info dpsim.SessionInfo
	for _, s := range ss {
		if s.ID == id {
			info = s
		}
	}
	if len(ss) != 1 || info.Connects != 1 || info.Resumes != 0 || !info.Connected {
		t.Fatalf("the camera cost a reconnect: %+v", ss)
	}
	evs, _ := k.rec.Snapshot()
	if connects(evs) != 1 {
		t.Fatalf("Connected %d times\n%s", connects(evs), sessiontest.Describe(evs))
	}
	for _, e := range evs {
		switch e.Kind {
		case contract.EventConnectFailed, contract.EventMediaFailed, contract.EventDisconnected, contract.EventRetry:
			t.Fatalf("plugging in an optional camera gave %v\n%s", e.Kind, sessiontest.Describe(evs))
		}
	}
	if got := fmt.Sprint(percentages(evs)); got != "[25 50 75 100]" {
		t.Fatalf("states %s, want [25 50 75 100] and nothing after\n%s", got, sessiontest.Describe(evs))
	}
	if snap := k.sup.Snapshot(); snap.State != contract.Connected || snap.SessionID != id {
		t.Fatalf("snapshot %+v, want Connected %s", snap, id)
	}
	if opens, closes, double, refused := cam.Counts(); opens != 1 || closes != 0 || double != 0 || refused != 0 {
		t.Fatalf("camera opens=%d closes=%d double=%d refused=%d", opens, closes, double, refused)
	}

	// Unplugged again, it is a device lost mid-session (docs/BEHAVIOUR.md section 7):
	// mediaStreamFailed, the same session resumed without the camera (its
	// track closed once); plugged in once more, it joins that connection.
	cam.SetMissing(true) // first, so the reopen after the failure finds it gone
	cam.Fail(errors.New("VIDIOC_DQBUF: No such device"))
	evs = k.rec.WaitFor(t, ctx, "Connected again after the camera was lost", nthConnected(2))
	if n := countKind(evs, contract.EventMediaFailed); n != 1 {
		t.Fatalf("%d mediaStreamFailed events, want 1\n%s", n, sessiontest.Describe(evs))
	}
	if again := lastConnected(evs); again.SessionID != id || !again.Resumed {
		t.Fatalf("after the loss: %s resumed=%v, want %s resumed", again.SessionID, again.Resumed, id)
	}
	before := info.Video.Frames
	if s, _ := dp.Session(id); s.Video.Frames > before {
		before = s.Video.Frames
	}
	cam.SetMissing(false)
	devChanges <- struct{}{}
	if _, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for _, s := range ss {
			if s.ID == id && s.Connects == 2 && s.Video.Frames >= before+5 && s.Video.Width == 640 {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("dpsim did not receive the camera plugged in again: %+v", dp.Sessions())
	}
	evs, _ = k.rec.Snapshot()
	if connects(evs) != 2 || countKind(evs, contract.EventMediaFailed) != 1 || countKind(evs, contract.EventConnectFailed) != 0 {
		t.Fatalf("plugging in again cost more than the loss did\n%s", sessiontest.Describe(evs))
	}
	if opens, closes, double, refused := cam.Counts(); opens != 2 || closes != 1 || double != 0 || refused != 0 {
		t.Fatalf("camera opens=%d closes=%d double=%d refused=%d", opens, closes, double, refused)
	}
}

// TestNoUserMediaRetriesWhenTheDeviceAppears: docs/BEHAVIOUR.md section 2 says noUserMedia waits
// until the device appears, then retries. With a backoff of an hour, only
// the device change can bring the session up within the test's minute.
func TestNoUserMediaRetriesWhenTheDeviceAppears(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	devices := make(chan struct{}, 1)
	k := startKiosk(t, dp, t.TempDir(), func(c *session.Config, o *session.Options) {
		c.InitialDelay, c.MaxDelay = time.Hour, time.Hour
		f := &flakyMedia{MediaSource: o.Media, name: contract.NoUserMedia}
		f.n.Store(1)
		o.Media = f
		o.DeviceChanges = devices
	})
	k.rec.WaitFor(t, ctx, "a retry after noUserMedia", func(evs []contract.Event) bool {
		return countKind(evs, contract.EventRetry) > 0
	})
	devices <- struct{}{} // the microphone is plugged in
	evs := k.rec.WaitFor(t, ctx, "Connected after the device appeared", nthConnected(1))
	if countKind(evs, contract.EventRetry) != 1 {
		t.Fatalf("want exactly one retry\n%s", sessiontest.Describe(evs))
	}
}
