package dpv1_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/rtc"
)

// One dpv1 call against dpsim, without the supervisor: what it reports,
// how it ends, and what the server hears when the supervisor aborts it.
// (session's kiosk_test.go runs calls under the supervisor.)

// noMedia sends nothing and reads the DP's tracks to their end.
type noMedia struct{}

func (noMedia) Send() []dialect.SendTrack { return nil }
func (noMedia) Failed() <-chan error      { return nil }
func (noMedia) HandleTrack(_ context.Context, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := tr.Read(buf); err != nil {
			return
		}
	}
}

// reports is a dialect.Reporter that hands each report to the test, in order.
type reports chan string

func (r reports) State(st contract.ConnectionState) { r <- "state:" + st.String() }
func (r reports) Session(id string, resumed bool)   { r <- fmt.Sprintf("session:%v", resumed) }
func (r reports) Queue(pos int)                     { r <- fmt.Sprintf("queue:%d", pos) }
func (r reports) Conversation(c contract.ConversationState) {
	r <- "conversation:" + c.String()
}
func (r reports) PathRestart(recovered bool, _ time.Duration) { r <- fmt.Sprintf("path:%v", recovered) }

// until reads reports up to and including want, returning them.
func (r reports) until(t *testing.T, ctx context.Context, want string) []string {
	t.Helper()
	var got []string
	for {
		select {
		case s := <-r:
			got = append(got, s)
			if s == want {
				return got
			}
		case <-ctx.Done():
			t.Fatalf("no %s; reports so far %v", want, got)
		}
	}
}

func newDialect(t *testing.T, url, token string) *dpv1.Dialect {
	t.Helper()
	d, err := dpv1.New(dpv1.Config{
		URL: url, Token: token,
		Client: dpwire.ClientInfo{Name: "dpv1-test", Video: true, Audio: true},
		Peer:   rtc.PeerOptions{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func start(t *testing.T, ctx context.Context, d *dpv1.Dialect) (dialect.Call, reports) {
	r := make(reports, 64)
	return d.Start(ctx, dialect.Attempt{Media: noMedia{}, Report: r, Log: testlog.New(t, slog.LevelDebug)}), r
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func waitClose(t *testing.T, ctx context.Context, dp *dptest.Server, reason string) {
	t.Helper()
	if _, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		return len(ss) == 1 && ss[0].LastCloseReason == reason
	}); err != nil {
		t.Fatalf("the server did not get close %s: %+v", reason, dp.Sessions())
	}
}

func TestNameAndServer(t *testing.T) {
	d := newDialect(t, "ws://127.0.0.1:1/v1/session", "")
	if d.Name() != "kioskd" || d.Server() != "ws://127.0.0.1:1/v1/session" {
		t.Fatalf("name %q server %q", d.Name(), d.Server())
	}
	if _, err := dpv1.New(dpv1.Config{}); err == nil {
		t.Fatal("a dialect without a URL")
	}
}

// TestCallReportsEachStepOnceAndShutsDownNormally: the session id, then
// every state once, in order; a cancelled context sends close normal and
// ends the call ByUs.
func TestCallReportsEachStepOnceAndShutsDownNormally(t *testing.T) {
	ctx := testCtx(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	callCtx, stop := context.WithCancel(ctx)
	c, r := start(t, callCtx, newDialect(t, dp.URL, dp.Token))
	got := fmt.Sprint(r.until(t, ctx, "state:Connected"))
	want := "[state:SearchingForDigitalPerson session:false queue:0 state:DownloadingAssets state:ConnectingToDigitalPerson state:Connected]"
	if got != want {
		t.Fatalf("reports %s, want %s", got, want)
	}
	stop()
	res := c.Result()
	if !res.ByUs || res.Reason != contract.ReasonNormal || res.Err != nil || res.Connected.IsZero() || res.SessionID == "" {
		t.Fatalf("result %+v, want a Connected call ended normally by us", res)
	}
	waitClose(t, ctx, dp, "normal")
}

// TestAbortBeforeConnectedTellsTheServer: the supervisor's deadline
// aborts a stalled call with sessionTimeout; the server hears close
// sessionTimeout and the call ends with that name and the cause.
func TestAbortBeforeConnectedTellsTheServer(t *testing.T) {
	ctx := testCtx(t)
	sc := dpsim.DefaultScenario()
	sc.Stall = 1
	sc.StallAt = dpsim.StepAssets
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	c, r := start(t, ctx, newDialect(t, dp.URL, dp.Token))
	r.until(t, ctx, "state:DownloadingAssets")
	cause := errors.New("DownloadingAssets for too long (test)")
	c.Abort(contract.SessionTimeout, cause)
	res := c.Result()
	if res.Err == nil || res.Err.Name != contract.SessionTimeout || !errors.Is(res.Err, cause) || !res.Connected.IsZero() {
		t.Fatalf("result %+v, want sessionTimeout with the cause", res)
	}
	waitClose(t, ctx, dp, "sessionTimeout")
}

// TestAbortAfterConnectedIsIgnored: an abort that raced the last step
// and lost changes nothing; the call ends as the server says.
func TestAbortAfterConnectedIsIgnored(t *testing.T) {
	ctx := testCtx(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	c, r := start(t, ctx, newDialect(t, dp.URL, dp.Token))
	r.until(t, ctx, "state:Connected")
	c.Abort(contract.SessionTimeout, errors.New("too late"))
	if dp.CloseAll("controlDisconnected") != 1 {
		t.Fatal("nothing to close")
	}
	res := c.Result()
	if res.Err != nil || res.Reason != contract.ReasonControlDisconnected || res.ByUs {
		t.Fatalf("result %+v, want controlDisconnected from the server", res)
	}
}

// TestAbortDuringTheDial: a server that accepts the connection and never
// answers the upgrade; the abort ends the dial at once, not after the
// handshake timeout (10 s).
func TestAbortDuringTheDial(t *testing.T) {
	ctx := testCtx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			accepted <- conn
		}
	}()
	c, _ := start(t, ctx, newDialect(t, "ws://"+ln.Addr().String()+"/v1/session", ""))
	select {
	case conn := <-accepted:
		defer conn.Close()
	case <-ctx.Done():
		t.Fatal("the call did not dial")
	}
	cause := errors.New("the server was not reached (test)")
	c.Abort(contract.ServerConnectionFailed, cause)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the abort waits for the handshake timeout")
	}
	res := c.Result()
	if res.Err == nil || res.Err.Name != contract.ServerConnectionFailed || !errors.Is(res.Err, cause) {
		t.Fatalf("result %+v, want serverConnectionFailed with the cause", res)
	}
}

// TestCandidateFloodEndsTheCall: a server that sends 20,000 candidates
// after its answer breaks the protocol (at most dpwire.MaxCandidates per
// connection, docs/PROTOCOL.md section 3.1). The call ends with
// serverConnectionFailed once the server is past the limit, instead of
// handing every candidate to its ICE agent (a goroutine or more each).
func TestCandidateFloodEndsTheCall(t *testing.T) {
	ctx := testCtx(t)
	sc := dpsim.DefaultScenario()
	sc.Hostile = dpsim.Always
	sc.HostileModes = []dpsim.HostileMode{dpsim.HostileCandidateFlood}
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	base := runtime.NumGoroutine()
	c, r := start(t, ctx, newDialect(t, dp.URL, dp.Token))
	for done := false; !done; {
		select {
		case <-c.Done():
			done = true
		case s := <-r:
			if s == "state:Connected" {
				t.Fatalf("Connected through a flood of %d candidates, with %d goroutines (%d before the call)",
					dpsim.FloodCandidates, runtime.NumGoroutine(), base)
			}
		case <-ctx.Done():
			t.Fatalf("the call goes on through a flood of %d candidates, with %d goroutines (%d before the call)",
				dpsim.FloodCandidates, runtime.NumGoroutine(), base)
		}
	}
	n := runtime.NumGoroutine()
	res := c.Result()
	if res.Err == nil || res.Err.Name != contract.ServerConnectionFailed || !errors.Is(res.Err, dpv1.ErrProtocol) ||
		!strings.Contains(res.Err.Error(), "candidates") {
		t.Fatalf("result %+v, want serverConnectionFailed: too many candidates", res)
	}
	// The call has released everything; what is left is the server's and
	// the runtime's, nowhere near a goroutine per candidate.
	if n > base+dpwire.MaxCandidates {
		t.Fatalf("%d goroutines when the call ended, %d before it", n, base)
	}
	// The kiosk sends close serverConnectionFailed before it hangs up, but
	// a server busy writing its flood may not read it before the socket
	// goes: the session ends either way, with that reason or as a lost
	// socket, and never stays open.
	ss, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		return len(ss) == 1 && ss[0].State == dpsim.StateEnded
	})
	if err != nil {
		t.Fatalf("the session did not end at the server: %+v", dp.Sessions())
	}
	if r := ss[0].LastCloseReason; r != contract.ServerConnectionFailed.String() && !(r == "" && ss[0].EndReason == dpsim.EndSocketLost) {
		t.Fatalf("the server saw close %q, end %q; want serverConnectionFailed, or a lost socket while it flooded", r, ss[0].EndReason)
	}
}
