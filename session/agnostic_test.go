package session_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/dialecttest"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// The supervisor is dialect-agnostic: these tests run it with a fake
// dialect (dialecttest) on a fake clock, and check that the deadlines,
// the reactions, persistence and liveness are the supervisor's and hold
// whatever the dialect. (kiosk_test.go runs the same supervisor with the
// real kioskd.dp.v1 dialect against dpsim.)

const fakeServer = "test://dp"

type fakeKiosk struct {
	sup   *session.Supervisor
	d     *dialecttest.Dialect
	clk   *clocktest.Clock
	rec   *sessiontest.Recorder
	store *session.Store
	done  chan struct{}
}

// startFake runs a supervisor over a fake dialect: steps of 20 s, connects
// of 60 s, backoff from 1 s with the jitter at its middle.
func startFake(t *testing.T, ctx context.Context, dir string, edit func(*session.Config, *session.Options)) *fakeKiosk {
	t.Helper()
	clk := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	d := dialecttest.New("test", fakeServer, clk)
	cfg := session.Config{Resume: true, StepTimeout: 20 * time.Second, ConnectTimeout: 60 * time.Second,
		InitialDelay: time.Second, MaxDelay: 30 * time.Second}
	opts := session.Options{Clock: clk, Store: session.NewStore(dir), Rand: func() float64 { return 0.5 }}
	if edit != nil {
		edit(&cfg, &opts)
	}
	sup, err := session.New(cfg, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKiosk{sup: sup, d: d, clk: clk, rec: sessiontest.Record(sup), store: opts.Store, done: make(chan struct{})}
	runCtx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(k.done)
		_ = sup.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-k.done
	})
	return k
}

func lastOf(evs []contract.Event, kind contract.EventKind) (contract.Event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == kind {
			return evs[i], true
		}
	}
	return contract.Event{}, false
}

func hasKind(kind contract.EventKind) func([]contract.Event) bool {
	return func(evs []contract.Event) bool { _, ok := lastOf(evs, kind); return ok }
}

// TestStepDeadlineAbortsTheCallThenBacksOff: a step that outlives
// step_timeout makes the supervisor abort the call with sessionTimeout
// (the dialect tells its server), then retry after a backoff delay. Each
// new step starts a new deadline.
func TestStepDeadlineAbortsTheCallThenBacksOff(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	k := startFake(t, ctx, t.TempDir(), nil)
	c := k.d.Next(t, ctx)
	c.Session("dp-1", false)
	c.State(contract.SearchingForDigitalPerson)
	k.clk.Advance(15 * time.Second)
	c.State(contract.DownloadingAssets) // a new step: its deadline is 20 s from now
	k.clk.Advance(19 * time.Second)
	k.clk.Advance(2 * time.Second)
	ab := c.WaitAbort(t, ctx)
	if ab.Ignored || ab.Name != contract.SessionTimeout || !errors.Is(ab.Cause, session.ErrStepStuck) ||
		!strings.Contains(ab.Cause.Error(), "DownloadingAssets for more than 20s") {
		t.Fatalf("abort %+v (cause %v), want sessionTimeout for DownloadingAssets", ab, ab.Cause)
	}
	if at := ab.At.Sub(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); at < 35*time.Second {
		t.Fatalf("aborted %s after the start, before the step's deadline (35 s)", at)
	}
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	failed, _ := lastOf(evs, contract.EventConnectFailed)
	retry, _ := lastOf(evs, contract.EventRetry)
	if failed.ErrorName != contract.SessionTimeout || retry.ErrorName != contract.SessionTimeout || retry.Delay != 500*time.Millisecond {
		t.Fatalf("want sessionTimeout and a retry in 500ms (backoff 1 s, jitter 0.5)\n%s", sessiontest.Describe(evs))
	}
	if len(k.d.Calls()) != 1 {
		t.Fatal("a second call started before the backoff delay")
	}
	k.clk.Advance(500 * time.Millisecond)
	if c2 := k.d.Next(t, ctx); c2.Attempt.Resume != "" {
		t.Fatalf("the retry resumes %q; a session never Connected is not stored", c2.Attempt.Resume)
	}
}

// TestConnectDeadlineAbortsWhileStepsMove: steps that each keep their own
// deadline still cannot take longer than connect_timeout together.
func TestConnectDeadlineAbortsWhileStepsMove(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	k := startFake(t, ctx, t.TempDir(), func(c *session.Config, _ *session.Options) { c.ConnectTimeout = 30 * time.Second })
	c := k.d.Next(t, ctx)
	c.State(contract.SearchingForDigitalPerson)
	k.clk.Advance(15 * time.Second)
	c.State(contract.DownloadingAssets) // its step deadline would be at 35 s
	k.clk.Advance(16 * time.Second)
	ab := c.WaitAbort(t, ctx)
	if ab.Name != contract.SessionTimeout || !strings.Contains(ab.Cause.Error(), "not Connected within 30s (stuck in DownloadingAssets)") {
		t.Fatalf("abort %+v (cause %v), want the connect deadline's sessionTimeout", ab, ab.Cause)
	}
	k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
}

// TestUnreachableServerIsServerConnectionFailed: a call that reports no
// state within step_timeout has not reached its server (a dial that hangs):
// the supervisor aborts it with serverConnectionFailed.
func TestUnreachableServerIsServerConnectionFailed(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	k := startFake(t, ctx, t.TempDir(), nil)
	c := k.d.Next(t, ctx)
	k.clk.Advance(20 * time.Second)
	if ab := c.WaitAbort(t, ctx); ab.Name != contract.ServerConnectionFailed {
		t.Fatalf("abort %+v (cause %v), want serverConnectionFailed", ab, ab.Cause)
	}
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	if failed, _ := lastOf(evs, contract.EventConnectFailed); failed.ErrorName != contract.ServerConnectionFailed {
		t.Fatalf("want serverConnectionFailed\n%s", sessiontest.Describe(evs))
	}
}

// TestNoSessionToResumeStartsAFreshSessionAtOnce: the stored session is
// asked for, refused; the supervisor forgets it and starts a fresh one
// without a backoff delay.
func TestNoSessionToResumeStartsAFreshSessionAtOnce(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dir := t.TempDir()
	if err := session.NewStore(dir).Save(session.Stored{SessionID: "dp-old", ServerURL: fakeServer}); err != nil {
		t.Fatal(err)
	}
	k := startFake(t, ctx, dir, nil)
	c := k.d.Next(t, ctx)
	if c.Attempt.Resume != "dp-old" {
		t.Fatalf("first attempt resumes %q, want the stored dp-old", c.Attempt.Resume)
	}
	if id := k.sup.Snapshot().SessionID; id != "dp-old" {
		t.Fatalf("until the server names one, the session id is the one resumed: %q", id)
	}
	c.Fail(contract.NoSessionToResume, errors.New("expired"))
	c2 := k.d.Next(t, ctx) // no clock advance: at once
	if c2.Attempt.Resume != "" {
		t.Fatalf("after noSessionToResume the next attempt resumes %q, want a fresh session", c2.Attempt.Resume)
	}
	if _, err := k.store.Load(); !errors.Is(err, session.ErrNoStoredSession) {
		t.Fatalf("the refused session is still stored: %v", err)
	}
	c2.Connect("dp-new", false)
	evs := k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	if countKind(evs, contract.EventRetry) != 0 {
		t.Fatalf("noSessionToResume must reconnect at once\n%s", sessiontest.Describe(evs))
	}
	if st, err := k.store.Load(); err != nil || st.SessionID != "dp-new" || st.ServerURL != fakeServer {
		t.Fatalf("stored %+v, %v; want dp-new on %s", st, err, fakeServer)
	}
}

// TestControlDisconnectedResumesTheSameSession: after Connected, a lost
// control channel is answered at once with a call that resumes the same
// session id; a session stored for another server is not asked for.
func TestControlDisconnectedResumesTheSameSession(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dir := t.TempDir()
	if err := session.NewStore(dir).Save(session.Stored{SessionID: "dp-elsewhere", ServerURL: "test://other"}); err != nil {
		t.Fatal(err)
	}
	k := startFake(t, ctx, dir, nil)
	c := k.d.Next(t, ctx)
	if c.Attempt.Resume != "" {
		t.Fatalf("resumes %q, a session of another server", c.Attempt.Resume)
	}
	c.Connect("dp-7", false)
	k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	k.clk.Advance(10 * time.Second)
	c.Disconnect(contract.ReasonControlDisconnected)
	c2 := k.d.Next(t, ctx)
	if c2.Attempt.Resume != "dp-7" {
		t.Fatalf("after controlDisconnected the next attempt resumes %q, want dp-7", c2.Attempt.Resume)
	}
	c2.Connect("dp-7", true)
	evs := k.rec.WaitFor(t, ctx, "Connected again", nthConnected(2))
	if again := lastConnected(evs); again.SessionID != "dp-7" || !again.Resumed {
		t.Fatalf("Connected as %s resumed=%v, want dp-7 resumed\n%s", again.SessionID, again.Resumed, sessiontest.Describe(evs))
	}
	disc, _ := lastOf(evs, contract.EventDisconnected)
	if disc.Reason != contract.ReasonControlDisconnected || disc.ByUs || disc.SessionID != "dp-7" || countKind(evs, contract.EventRetry) != 0 {
		t.Fatalf("want controlDisconnected of dp-7 and no backoff\n%s", sessiontest.Describe(evs))
	}
	if got := percentages(evs); len(got) != 9 {
		t.Fatalf("state percentages %v, want 25 50 75 100 0 25 50 75 100", got)
	}
}

// TestShutdownEndsTheCallByUs: cancelling Run is the dialect's shutdown;
// the supervisor reports normal by kioskd and keeps the stored session.
func TestShutdownEndsTheCallByUs(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dir := t.TempDir()
	clk := clocktest.New(time.Unix(0, 0))
	d := dialecttest.New("test", fakeServer, clk)
	sup, err := session.New(session.Config{Resume: true}, d, session.Options{Clock: clk, Store: session.NewStore(dir)})
	if err != nil {
		t.Fatal(err)
	}
	rec := sessiontest.Record(sup)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(runCtx) }()
	c := d.Next(t, ctx)
	c.Connect("dp-9", false)
	rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	stop()
	<-done
	evs := rec.WaitFor(t, ctx, "stopped", hasKind(contract.EventStopped))
	disc, _ := lastOf(evs, contract.EventDisconnected)
	if disc.Reason != contract.ReasonNormal || !disc.ByUs {
		t.Fatalf("want normal by kioskd\n%s", sessiontest.Describe(evs))
	}
	if st, err := session.NewStore(dir).Load(); err != nil || st.SessionID != "dp-9" {
		t.Fatalf("shutdown lost the stored session: %+v %v", st, err)
	}
}

// notSupported is a MediaSource whose devices cannot be used.
type notSupported struct{ session.NoMedia }

func (notSupported) Tracks(context.Context) ([]webrtc.TrackLocal, error) {
	return nil, contract.NewConnectError(contract.NotSupported, errors.New("no usable format (test)"))
}

// waitProgress waits until the supervisor has shown progress at the fake
// clock's current time.
func waitProgress(t *testing.T, ctx context.Context, k *fakeKiosk, what string) {
	t.Helper()
	want := k.clk.Now()
	for !k.sup.LastProgress().Equal(want) {
		if ctx.Err() != nil {
			t.Fatalf("no progress shown %s: last at %v, now %v", what, k.sup.LastProgress(), want)
		}
		runtime.Gosched()
	}
}

// TestLivenessWhereverTheSupervisorWaits: the supervisor shows progress
// every second while a call runs quietly, while it waits out a backoff, and
// while it is parked after notSupported: its one wait feeds the watchdog.
func TestLivenessWhereverTheSupervisorWaits(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	k := startFake(t, ctx, t.TempDir(), func(c *session.Config, _ *session.Options) {
		c.InitialDelay, c.MaxDelay = time.Hour, time.Hour
	})
	c := k.d.Next(t, ctx)
	c.Connect("dp-1", false)
	k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	for i := 0; i < 3; i++ {
		k.clk.Advance(time.Second)
		waitProgress(t, ctx, k, "during a call")
	}
	c.Disconnect(contract.ReasonControlDisconnected)
	c = k.d.Next(t, ctx)
	c.Fail(contract.NoScene, errors.New("busy"))
	k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	for i := 0; i < 3; i++ {
		k.clk.Advance(time.Second)
		waitProgress(t, ctx, k, "waiting out a backoff")
	}

	devices := make(chan struct{})
	parked := startFake(t, ctx, t.TempDir(), func(_ *session.Config, o *session.Options) {
		o.Media = notSupported{}
		o.DeviceChanges = devices
	})
	parked.rec.WaitFor(t, ctx, "notSupported", hasKind(contract.EventConnectFailed))
	for i := 0; i < 3; i++ {
		parked.clk.Advance(time.Second)
		waitProgress(t, ctx, parked, "parked after notSupported")
	}
	if len(parked.d.Calls()) != 0 {
		t.Fatal("a call started without usable devices")
	}
}
