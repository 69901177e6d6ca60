package session_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// A hostile server of docs/PROTOCOL.md, as small as it gets: every hello
// is answered by the test's function, and every upgrade is counted. The
// supervisor runs the real kioskd.dp.v1 dialect against it on a fake
// clock, so a test counts dials per backoff step without sleeping
// (docs/BEHAVIOUR.md section 2: "whatever a server sends, the kiosk never
// dials faster than the backoff allows").

type hostileServer struct {
	URL    string
	dials  atomic.Int64
	dialed chan struct{} // signalled at every upgrade
}

func newHostileServer(t *testing.T, onHello func(ws *websocket.Conn, h dpwire.Hello)) *hostileServer {
	t.Helper()
	hs := &hostileServer{dialed: make(chan struct{}, 1)}
	up := websocket.Upgrader{Subprotocols: []string{dpwire.Subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		hs.dials.Add(1)
		select {
		case hs.dialed <- struct{}{}:
		default:
		}
		_, frame, err := ws.ReadMessage()
		if err != nil {
			return
		}
		m, err := dpwire.Decode(frame)
		if err != nil {
			return
		}
		if h, ok := m.(dpwire.Hello); ok {
			onHello(ws, h)
		}
	}))
	t.Cleanup(srv.Close)
	hs.URL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/session"
	return hs
}

// send writes one message on a hostile server's socket.
func send(ws *websocket.Conn, m dpwire.Message) {
	frame, _ := dpwire.Encode(m)
	_ = ws.WriteMessage(websocket.TextMessage, frame)
}

// closeWith answers every hello with close reason, then closes the socket.
func closeWith(reason string) func(*websocket.Conn, dpwire.Hello) {
	return func(ws *websocket.Conn, _ dpwire.Hello) {
		send(ws, dpwire.Close{Reason: reason, Message: "hostile test server"})
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	}
}

// lines is an slog.Handler that keeps every message, for tests that check
// what was logged.
type lines struct {
	mu      sync.Mutex
	msgs    []string
	changed chan struct{} // closed and replaced at each message
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, r.Message)
	if l.changed != nil {
		close(l.changed)
	}
	l.changed = make(chan struct{})
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func (l *lines) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// waitFor waits for a message starting with prefix. The supervisor
// publishes an event before it logs its line, so a test that saw the
// event waits for the line rather than counting at once.
func (l *lines) waitFor(ctx context.Context, prefix string) bool {
	for {
		l.mu.Lock()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		if l.count(prefix) > 0 {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

type dpv1Kiosk struct {
	sup  *session.Supervisor
	clk  *clocktest.Clock
	rec  *sessiontest.Recorder
	logs *lines
}

// startDPV1 runs a supervisor with the kioskd.dp.v1 dialect against url
// on a fake clock: backoff from 1 s to 30 s, jitter at its middle.
func startDPV1(t *testing.T, ctx context.Context, url, stateDir string, devices <-chan struct{}) *dpv1Kiosk {
	t.Helper()
	clk := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	logs := &lines{}
	d, err := dpv1.New(dpv1.Config{URL: url, Clock: clk, Client: dpwire.ClientInfo{Name: "kioskd-test", Version: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := session.New(session.Config{Resume: true, InitialDelay: time.Second, MaxDelay: 30 * time.Second},
		d, session.Options{Clock: clk, Store: session.NewStore(stateDir), Rand: func() float64 { return 0.5 },
			Log: slog.New(logs), DeviceChanges: devices})
	if err != nil {
		t.Fatal(err)
	}
	k := &dpv1Kiosk{sup: sup, clk: clk, rec: sessiontest.Record(sup), logs: logs}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return k
}

// waitRetries waits until the supervisor has published n retries, and
// fails as soon as the server has seen more than maxDials dials: a kiosk
// that dials without a retry is dialling faster than the backoff allows.
func waitRetries(t *testing.T, ctx context.Context, k *dpv1Kiosk, hs *hostileServer, n int, maxDials int64) []contract.Event {
	t.Helper()
	for {
		evs, changed := k.rec.Snapshot()
		if countKind(evs, contract.EventRetry) >= n {
			if d := hs.dials.Load(); d > maxDials {
				t.Fatalf("%d dials by retry %d, want at most %d\n%s", d, n, maxDials, sessiontest.Describe(evs))
			}
			return evs
		}
		if d := hs.dials.Load(); d > maxDials {
			t.Fatalf("%d dials and %d retries (want retry %d by dial %d): the kiosk dials without backoff\n%s",
				d, countKind(evs, contract.EventRetry), n, maxDials, sessiontest.Describe(tail(evs, 12)))
		}
		select {
		case <-changed:
		case <-hs.dialed:
		case <-ctx.Done():
			t.Fatalf("no retry %d; %d dials\n%s", n, hs.dials.Load(), sessiontest.Describe(tail(evs, 12)))
		}
	}
}

func tail(evs []contract.Event, n int) []contract.Event {
	if len(evs) > n {
		return evs[len(evs)-n:]
	}
	return evs
}

// TestNoSessionToResumeForAFreshHelloIsBackedOff: a server that answers
// every hello, even one that resumes nothing, with close
// noSessionToResume. The stored session is asked for, refused and
// forgotten, and a fresh session is dialled at once (the one legitimate
// immediate retry); the refusal of that fresh hello breaks the protocol
// and is retried with backoff, with a retry line in the log: one dial per
// backoff step from then on, never a hot loop.
func TestNoSessionToResumeForAFreshHelloIsBackedOff(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	hs := newHostileServer(t, closeWith(contract.NoSessionToResume.String()))
	dir := t.TempDir()
	if err := session.NewStore(dir).Save(session.Stored{SessionID: "dp-old", ServerURL: hs.URL}); err != nil {
		t.Fatal(err)
	}
	k := startDPV1(t, ctx, hs.URL, dir, nil)

	// Dial 1 resumes dp-old and is refused; dial 2 is the fresh session,
	// at once; its refusal is backed off.
	evs := waitRetries(t, ctx, k, hs, 1, 2)
	if hs.dials.Load() != 2 {
		t.Fatalf("%d dials before the first retry, want 2 (the resume, then a fresh session at once)", hs.dials.Load())
	}
	retry, _ := lastOf(evs, contract.EventRetry)
	failed, _ := lastOf(evs, contract.EventConnectFailed)
	if failed.ErrorName != contract.ServerConnectionFailed || retry.Delay != 500*time.Millisecond {
		t.Fatalf("the refused fresh hello: want serverConnectionFailed and a retry in 500ms (backoff 1 s, jitter 0.5)\n%s", sessiontest.Describe(evs))
	}
	if !k.logs.waitFor(ctx, "retrying") {
		t.Fatal("no retry line in the log")
	}
	if _, err := session.NewStore(dir).Load(); !errors.Is(err, session.ErrNoStoredSession) {
		t.Fatalf("the refused session is still stored: %v", err)
	}
	// Each backoff step allows one dial.
	for i := 2; i <= 5; i++ {
		last, _ := lastOf(evs, contract.EventRetry)
		k.clk.Advance(last.Delay)
		evs = waitRetries(t, ctx, k, hs, i, int64(i+1))
		if hs.dials.Load() != int64(i+1) {
			t.Fatalf("%d dials by retry %d, want %d", hs.dials.Load(), i, i+1)
		}
	}
}

// TestNoSessionToResumeTwiceInARowIsBackedOff: whatever the dialect
// reports, a second noSessionToResume straight after the immediate retry
// of the first goes through the backoff, and so does one for an attempt
// that resumed nothing.
func TestNoSessionToResumeTwiceInARowIsBackedOff(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	dir := t.TempDir()
	if err := session.NewStore(dir).Save(session.Stored{SessionID: "dp-old", ServerURL: fakeServer}); err != nil {
		t.Fatal(err)
	}
	k := startFake(t, ctx, dir, nil)
	c := k.d.Next(t, ctx)
	if c.Attempt.Resume != "dp-old" {
		t.Fatalf("first attempt resumes %q", c.Attempt.Resume)
	}
	c.Fail(contract.NoSessionToResume, errors.New("expired"))
	c = k.d.Next(t, ctx) // at once: the legitimate reaction
	if c.Attempt.Resume != "" {
		t.Fatalf("after noSessionToResume the next attempt resumes %q", c.Attempt.Resume)
	}
	c.Fail(contract.NoSessionToResume, errors.New("a fresh hello refused"))
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	if retry, _ := lastOf(evs, contract.EventRetry); retry.Delay != 500*time.Millisecond || retry.ErrorName != contract.NoSessionToResume {
		t.Fatalf("want a retry in 500ms\n%s", sessiontest.Describe(evs))
	}
	if n := len(k.d.Calls()); n != 2 {
		t.Fatalf("%d calls before the clock moved, want 2", n)
	}
	k.clk.Advance(500 * time.Millisecond)
	c = k.d.Next(t, ctx)
	c.Fail(contract.NoSessionToResume, errors.New("again"))
	evs = k.rec.WaitFor(t, ctx, "a second retry", func(evs []contract.Event) bool { return countKind(evs, contract.EventRetry) >= 2 })
	if retry, _ := lastOf(evs, contract.EventRetry); retry.Delay != time.Second {
		t.Fatalf("want the next retry in 1s (ceiling 2 s)\n%s", sessiontest.Describe(evs))
	}
	if n := len(k.d.Calls()); n != 3 {
		t.Fatalf("%d calls before the clock moved, want 3", n)
	}
}

// TestClientOnlyCloseFromTheServerIsRetried: noUserMedia and notSupported
// are the kiosk's own errors (docs/PROTOCOL.md section 10.1); a server
// that closes with one of them has broken the protocol. The kiosk neither
// parks until the devices change (notSupported) nor blames its devices
// (noUserMedia): serverConnectionFailed, retried with backoff.
func TestClientOnlyCloseFromTheServerIsRetried(t *testing.T) {
	for _, name := range []contract.ErrorName{contract.NotSupported, contract.NoUserMedia} {
		t.Run(name.String(), func(t *testing.T) {
			ctx := testCtx(t, 10*time.Second)
			hs := newHostileServer(t, closeWith(name.String()))
			k := startDPV1(t, ctx, hs.URL, t.TempDir(), make(chan struct{}))
			evs := k.rec.WaitFor(t, ctx, "a failed connect", hasKind(contract.EventConnectFailed))
			if failed, _ := lastOf(evs, contract.EventConnectFailed); failed.ErrorName != contract.ServerConnectionFailed ||
				!strings.Contains(failed.Cause.Error(), "server closed with "+name.String()) {
				t.Fatalf("a server's close %s: want serverConnectionFailed naming it\n%s", name, sessiontest.Describe(evs))
			}
			evs = waitRetries(t, ctx, k, hs, 1, 1)
			if retry, _ := lastOf(evs, contract.EventRetry); retry.Delay != 500*time.Millisecond {
				t.Fatalf("want a retry in 500ms\n%s", sessiontest.Describe(evs))
			}
			if k.logs.count("server closed with a reason it may not send") != 1 {
				t.Fatal("no log line says the server sent a reason it may not send")
			}
			k.clk.Advance(500 * time.Millisecond)
			waitRetries(t, ctx, k, hs, 2, 2)
		})
	}
}

// TestNotSupportedFromACallIsBackedOff: only the kiosk's own devices
// park the supervisor until they change; a call (any dialect) that ends
// with notSupported is retried with backoff.
func TestNotSupportedFromACallIsBackedOff(t *testing.T) {
	ctx := testCtx(t, 10*time.Second)
	k := startFake(t, ctx, t.TempDir(), func(_ *session.Config, o *session.Options) { o.DeviceChanges = make(chan struct{}) })
	c := k.d.Next(t, ctx)
	c.Fail(contract.NotSupported, errors.New("the server says so (test)"))
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	if retry, _ := lastOf(evs, contract.EventRetry); retry.Delay != 500*time.Millisecond {
		t.Fatalf("want a retry in 500ms\n%s", sessiontest.Describe(evs))
	}
	k.clk.Advance(500 * time.Millisecond)
	k.d.Next(t, ctx)
}
