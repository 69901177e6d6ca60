package dpv1_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
)

// lines is an slog.Handler that keeps every record, for tests that check
// what was logged.
type lines struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *lines) Enabled(context.Context, slog.Level) bool { return true }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

// with returns the records whose message starts with prefix.
func (l *lines) with(prefix string) []slog.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []slog.Record
	for _, r := range l.recs {
		if strings.HasPrefix(r.Message, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) string {
	v := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// TestUnknownTypesAreLoggedOncePerType: docs/PROTOCOL.md section 12.2
// wants a frame of unknown type ignored with a log line. dpsim's hostile
// mode sends one after `session`, before each progress and after `ready`:
// the call connects, logs the type once, and says how many it ignored in
// all when it ends.
func TestUnknownTypesAreLoggedOncePerType(t *testing.T) {
	ctx := testCtx(t)
	sc := dpsim.DefaultScenario()
	sc.Hostile = dpsim.Always
	sc.HostileModes = []dpsim.HostileMode{dpsim.HostileUnknownType}
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	logs := &lines{}
	r := make(reports, 64)
	callCtx, stop := context.WithCancel(ctx)
	c := newDialect(t, dp.URL, dp.Token).Start(callCtx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(logs)})
	r.until(t, ctx, "state:Connected")
	stop()
	if res := c.Result(); res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	once := logs.with("ignoring a server message of unknown type")
	if len(once) != 1 || attr(once[0], "type") != "x-dpsim-unknown" {
		t.Fatalf("%d lines for the unknown type, want 1 naming x-dpsim-unknown: %v", len(once), once)
	}
	all := logs.with("server messages of unknown type ignored")
	if len(all) != 1 || attr(all[0], "frames") == "1" {
		t.Fatalf("want one line with the count of the frames ignored: %v", all)
	}
}

// TestUnknownTypesLogLinesAreBounded: a server that sends frames of a
// thousand different unknown types gets a bounded number of log lines.
func TestUnknownTypesLogLinesAreBounded(t *testing.T) {
	ctx := testCtx(t)
	url := hostile(t, func(ws *websocket.Conn) {
		send(ws, dpwire.Session{SessionID: "dp-1"})
		for i := 0; i < 1000; i++ {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"x-`+strings.Repeat("y", i%50)+`-`+string(rune('a'+i%26))+`"}`))
		}
		send(ws, dpwire.Close{Reason: contract.NoScene.String()})
	})
	logs := &lines{}
	c := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: make(reports, 64), Log: slog.New(logs)})
	if res := c.Result(); res.Err == nil || res.Err.Name != contract.NoScene {
		t.Fatalf("result %+v, want noScene", res)
	}
	if n := len(logs.with("ignoring a server message of unknown type")); n == 0 || n > 10 {
		t.Fatalf("%d lines for a thousand unknown types, want a few", n)
	}
	all := logs.with("server messages of unknown type ignored")
	if len(all) != 1 || attr(all[0], "frames") != "1000" {
		t.Fatalf("want one line counting 1000 frames: %v", all)
	}
}

// TestHeartbeatOutOfRangeIsMalformed: a server that names a heartbeat of
// an hour, then goes silent, would keep the kiosk waiting three hours
// before it finds the server dead. heartbeat_ms is 1000 to 30000
// (docs/PROTOCOL.md section 4.2); anything else is a malformed frame
// (close 1002): serverConnectionFailed, retried with backoff.
func TestHeartbeatOutOfRangeIsMalformed(t *testing.T) {
	for _, ms := range []int{3_600_000, 30_001, 999, 1} {
		t.Run(strconv.Itoa(ms), func(t *testing.T) {
			ctx := testCtx(t)
			url := hostile(t, func(ws *websocket.Conn) {
				send(ws, dpwire.Session{SessionID: "dp-1", HeartbeatMS: ms})
				send(ws, dpwire.Progress{State: "SearchingForDigitalPerson"})
				_, _, _ = ws.ReadMessage() // silent, until the client goes
			})
			c := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: make(reports, 64), Log: slog.New(&lines{})})
			guard := time.NewTimer(5 * time.Second) // a failure guard
			defer guard.Stop()
			select {
			case <-c.Done():
			case <-guard.C:
				t.Fatalf("heartbeat_ms %d accepted: the call waits on a silent server", ms)
			}
			if res := c.Result(); res.Err == nil || res.Err.Name != contract.ServerConnectionFailed || !errors.Is(res.Err, dpwire.ErrMalformed) {
				t.Fatalf("heartbeat_ms %d: result %+v, want serverConnectionFailed: malformed", ms, res)
			}
		})
	}
}

// hostile serves one connection of a hostile server: after the upgrade
// and the client's hello, serve does what it likes.
func hostile(t *testing.T, serve func(ws *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{dpwire.Subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		if _, _, err := ws.ReadMessage(); err != nil { // the hello
			return
		}
		serve(ws)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/session"
}

func send(ws *websocket.Conn, m dpwire.Message) {
	frame, _ := dpwire.Encode(m)
	_ = ws.WriteMessage(websocket.TextMessage, frame)
}

// TestOutOfOrderEventsAreLoggedOncePerKind: a server that repeats an
// out-of-order event (docs/PROTOCOL.md section 12.3: ignored, "once per
// kind is enough") a thousand times gets one log line per kind, and one
// line counting them all when the connection ends, not a line each. A
// late progress SearchingForDigitalPerson is not acted upon: its queue
// position is not reported.
func TestOutOfOrderEventsAreLoggedOncePerKind(t *testing.T) {
	ctx := testCtx(t)
	url := hostile(t, func(ws *websocket.Conn) {
		send(ws, dpwire.Session{SessionID: "dp-1"})
		send(ws, dpwire.Progress{State: "SearchingForDigitalPerson"})
		send(ws, dpwire.Progress{State: "DownloadingAssets"})
		for i := 0; i < 1000; i++ {
			send(ws, dpwire.Progress{State: "SearchingForDigitalPerson", QueuePosition: 4})
		}
		for i := 0; i < 500; i++ {
			send(ws, dpwire.Answer{SDP: "v=0\r\n"})
		}
		send(ws, dpwire.Close{Reason: contract.NoScene.String()})
	})
	logs := &lines{}
	r := make(reports, 2048) // room for a report per frame: the call never waits on the test
	c := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(logs)})
	if res := c.Result(); res.Err == nil || res.Err.Name != contract.NoScene {
		t.Fatalf("result %+v, want noScene", res)
	}
	close(r)
	for s := range r {
		if s == "queue:4" {
			t.Fatal("the queue position of a late progress was reported")
		}
	}
	if n := len(logs.with("ignoring an out-of-order server event")); n != 1 {
		t.Fatalf("%d lines for a thousand late progress events, want 1", n)
	}
	if n := len(logs.with("ignoring an answer without an offer pending")); n != 1 {
		t.Fatalf("%d lines for 500 answers without an offer, want 1", n)
	}
	all := logs.with("out-of-order server events ignored on this connection")
	if len(all) != 1 || attr(all[0], "events") != "1500" {
		t.Fatalf("want one line counting 1500 events: %v", all)
	}
}

// TestQueuePositionReportedOncePerChange: docs/PROTOCOL.md section 7, the
// client reports each new position; the same position again is no news.
func TestQueuePositionReportedOncePerChange(t *testing.T) {
	ctx := testCtx(t)
	url := hostile(t, func(ws *websocket.Conn) {
		send(ws, dpwire.Session{SessionID: "dp-1"})
		for _, pos := range []int{3, 3, 3, 2, 2, 1, 1} {
			send(ws, dpwire.Progress{State: "SearchingForDigitalPerson", QueuePosition: pos})
		}
		send(ws, dpwire.Close{Reason: contract.NoScene.String()})
	})
	r := make(reports, 64)
	c := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(&lines{})})
	c.Result()
	close(r)
	var queue []string
	for s := range r {
		if strings.HasPrefix(s, "queue:") {
			queue = append(queue, s)
		}
	}
	if got := strings.Join(queue, " "); got != "queue:3 queue:2 queue:1" {
		t.Fatalf("queue reports %q, want each position once", got)
	}
}
