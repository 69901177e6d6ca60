package dpv1_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/rtc"
)

// ICE restarts (docs/PROTOCOL.md section 4.12) over a real loopback
// WebSocket, with pion on both sides: dpsim answers them, the call keeps
// its session and stays Connected, and a server that answers garbage or
// nothing ends the call as controlDisconnected (the supervisor resumes),
// within the restart's bound.

// countingMedia reads the DP's tracks and counts their packets; each packet
// pokes got (without blocking), so a test waits for a count without polling.
type countingMedia struct {
	n   atomic.Int64
	got chan struct{}
}

func newCountingMedia() *countingMedia { return &countingMedia{got: make(chan struct{}, 1)} }

func (m *countingMedia) Send() []dialect.SendTrack { return nil }
func (m *countingMedia) Failed() <-chan error      { return nil }
func (m *countingMedia) HandleTrack(_ context.Context, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := tr.Read(buf); err != nil {
			return
		}
		m.n.Add(1)
		select {
		case m.got <- struct{}{}:
		default:
		}
	}
}

// atLeast waits until n packets have come in all.
func (m *countingMedia) atLeast(t *testing.T, ctx context.Context, n int64) {
	t.Helper()
	for m.n.Load() < n {
		select {
		case <-m.got:
		case <-ctx.Done():
			t.Fatalf("only %d of %d packets from the DP", m.n.Load(), n)
		}
	}
}

// logWatch is a slog handler that keeps the records and tells a test when
// one with a given message prefix comes.
type logWatch struct {
	lines
	mu2   sync.Mutex
	waits map[string]chan slog.Record
}

func (w *logWatch) Handle(ctx context.Context, r slog.Record) error {
	_ = w.lines.Handle(ctx, r)
	w.mu2.Lock()
	defer w.mu2.Unlock()
	for p, ch := range w.waits {
		if strings.HasPrefix(r.Message, p) {
			select {
			case ch <- r:
			default:
			}
		}
	}
	return nil
}

// expect arms a wait for a record whose message starts with prefix.
func (w *logWatch) expect(prefix string) chan slog.Record {
	w.mu2.Lock()
	defer w.mu2.Unlock()
	if w.waits == nil {
		w.waits = map[string]chan slog.Record{}
	}
	ch := make(chan slog.Record, 1)
	w.waits[prefix] = ch
	return ch
}

func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatch) WithGroup(string) slog.Handler      { return w }

func wait(t *testing.T, ctx context.Context, ch chan slog.Record, what string) slog.Record {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatalf("no log line %q", what)
		return slog.Record{}
	}
}

func restartDialect(t *testing.T, url, token string, timeout time.Duration) *dpv1.Dialect {
	t.Helper()
	d, err := dpv1.New(dpv1.Config{
		URL: url, Token: token,
		Client:            dpwire.ClientInfo{Name: "dpv1-test", Video: true, Audio: true},
		Peer:              rtc.PeerOptions{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second},
		ICERestartTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestICERestartKeepsTheCall: two network changes in a row restart ICE
// twice on the same PeerConnection; the server answers each, the DP's media
// flows again after each, and the call reports each as a recovered media
// path restart and nothing else (it stays Connected, same session) until
// it is stopped.
func TestICERestartKeepsTheCall(t *testing.T) {
	ctx := testCtx(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	d := restartDialect(t, dp.URL, dp.Token, 0)
	media, logs, r := newCountingMedia(), &logWatch{}, make(reports, 64)
	callCtx, stop := context.WithCancel(ctx)
	c := d.Start(callCtx, dialect.Attempt{Media: media, Report: r, Log: slog.New(logs)})
	r.until(t, ctx, "state:Connected")
	media.atLeast(t, ctx, 20)
	sid := dp.Sessions()[0].ID

	for i := 1; i <= 2; i++ {
		back := logs.expect("ICE restart: media path back")
		d.NetworkChanged("test")
		rec := wait(t, ctx, back, "ICE restart: media path back")
		if attr(rec, "ice_candidate_pair") == "" {
			t.Errorf("restart %d: no candidate pair logged", i)
		}
		if rep := r.until(t, ctx, "path:true"); len(rep) != 1 {
			t.Fatalf("restart %d: the call reported %v; want the recovered path restart alone", i, rep)
		}
		if st := dp.Stats(); st.ICERestarts != i {
			t.Fatalf("the server answered %d restarts, want %d", st.ICERestarts, i)
		}
		// Media after the restart: the DP's packets keep coming.
		media.atLeast(t, ctx, media.n.Load()+20)
	}
	select {
	case rep := <-r:
		t.Fatalf("the call reported %s during the restarts; want nothing more (still Connected)", rep)
	default:
	}
	ss := dp.Sessions()
	if len(ss) != 1 || ss[0].ID != sid || !ss[0].Connected || ss[0].Connects != 1 || ss[0].Resumes != 0 {
		t.Fatalf("want the one session, Connected once, never resumed: %+v", ss)
	}
	stop()
	if res := c.Result(); res.Err != nil || res.MediaErr != nil || res.Reason != contract.ReasonNormal {
		t.Fatalf("result %+v, want a normal end", res)
	}
}

// TestHostileICERestart: a server that answers a restart with an SDP that
// is no answer, or does not answer at all (as a 1.2 server, which ignores
// the type), makes the call end as controlDisconnected within the
// restart's bound, telling the server: the supervisor then resumes the
// session on a new connection.
func TestHostileICERestart(t *testing.T) {
	const bound = 700 * time.Millisecond
	for _, mode := range []dpsim.HostileMode{dpsim.HostileRestartGarbage, dpsim.HostileRestartIgnored} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := testCtx(t)
			sc := dpsim.DefaultScenario()
			sc.Hostile = 1
			sc.HostileModes = []dpsim.HostileMode{mode}
			dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
			d := restartDialect(t, dp.URL, dp.Token, bound)
			logs, r := &logWatch{}, make(reports, 64)
			c := d.Start(ctx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(logs)})
			r.until(t, ctx, "state:Connected")
			failed := logs.expect("ICE restart failed")
			began := time.Now()
			d.NetworkChanged("test")
			guard := time.NewTimer(5 * time.Second) // a failure guard
			defer guard.Stop()
			select {
			case <-c.Done():
			case <-guard.C:
				t.Fatal("the call goes on after a hostile answer to its restart")
			}
			took := time.Since(began)
			res := c.Result()
			if res.Err != nil || res.MediaErr != nil || res.Reason != contract.ReasonControlDisconnected {
				t.Fatalf("result %+v, want controlDisconnected", res)
			}
			rec := wait(t, ctx, failed, "ICE restart failed")
			r.until(t, ctx, "path:false") // the failed restart, reported
			want := "answer"
			if mode == dpsim.HostileRestartIgnored {
				want = "media not back within"
				if took < bound {
					t.Errorf("gave up after %v, before the bound %v", took, bound)
				}
			}
			if !strings.Contains(attr(rec, "error"), want) {
				t.Errorf("error %q, want it to say %q", attr(rec, "error"), want)
			}
			waitClose(t, ctx, dp, contract.ReasonControlDisconnected.String())
		})
	}
}

// TestNetworkChangeBeforeConnectedIsIgnored: a call still connecting does
// not restart anything (the step deadlines cover it) and connects.
func TestNetworkChangeBeforeConnectedIsIgnored(t *testing.T) {
	ctx := testCtx(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	d := restartDialect(t, dp.URL, dp.Token, 0)
	r := make(reports, 64)
	callCtx, stop := context.WithCancel(ctx)
	c := d.Start(callCtx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(&lines{})})
	r.until(t, ctx, "state:SearchingForDigitalPerson")
	d.NetworkChanged("test")
	r.until(t, ctx, "state:Connected")
	stop()
	if res := c.Result(); res.Err != nil || dp.Stats().ICERestarts != 0 {
		t.Fatalf("result %+v, restarts %d; want a normal call without restarts", res, dp.Stats().ICERestarts)
	}
}

// TestNetworkChangesDuringARestart: changes in a row (the second while the
// first restart is out, or just after) end with the media back on one
// connection, whichever way they interleave.
func TestNetworkChangesDuringARestart(t *testing.T) {
	ctx := testCtx(t)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	d := restartDialect(t, dp.URL, dp.Token, 0)
	media, logs, r := newCountingMedia(), &logWatch{}, make(reports, 64)
	callCtx, stop := context.WithCancel(ctx)
	c := d.Start(callCtx, dialect.Attempt{Media: media, Report: r, Log: slog.New(logs)})
	r.until(t, ctx, "state:Connected")
	back := logs.expect("ICE restart: media path back")
	for range 3 {
		d.NetworkChanged("test")
	}
	wait(t, ctx, back, "ICE restart: media path back")
	media.atLeast(t, ctx, media.n.Load()+20)
	if n := dp.Stats().ICERestarts; n < 1 || n > 3 {
		t.Fatalf("%d restarts answered, want 1 to 3", n)
	}
	stop()
	if res := c.Result(); res.Err != nil || res.MediaErr != nil || res.Reason != contract.ReasonNormal {
		t.Fatalf("result %+v, want a normal end", res)
	}
}

// TestServerSendingICERestartIsAViolation: ice_restart is a client's
// message (docs/PROTOCOL.md section 12.3); from a server it ends the call.
func TestServerSendingICERestartIsAViolation(t *testing.T) {
	ctx := testCtx(t)
	url := hostile(t, func(ws *websocket.Conn) {
		send(ws, dpwire.Session{SessionID: "dp-1"})
		send(ws, dpwire.ICERestart{SDP: "v=0\r\n"})
		_, _, _ = ws.ReadMessage() // until the client goes
	})
	call := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: make(reports, 64), Log: slog.New(&lines{})})
	guard := time.NewTimer(5 * time.Second) // a failure guard
	defer guard.Stop()
	select {
	case <-call.Done():
	case <-guard.C:
		t.Fatal("the call goes on after a server's ice_restart")
	}
	if res := call.Result(); res.Err == nil || res.Err.Name != contract.ServerConnectionFailed {
		t.Fatalf("result %+v, want serverConnectionFailed", res)
	}
}
