package dpv1_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
)

// TestServerICEServersAreUsed: dpsim with a TURN URL hands every
// connection an ice_servers message with a credential minted for the
// session (docs/PROTOCOL.md section 4.11). The call takes it (logs the
// URLs, never the credential), and connects: the TURN server here is
// unreachable, and the direct path on loopback still wins, as with
// ice_transport_policy all. (internal/netlab's TURN scenario shows a
// handed TURN server carrying a call through a real coturn.)
func TestServerICEServersAreUsed(t *testing.T) {
	ctx := testCtx(t)
	secret := "dpv1-test-turn-secret"
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario(), TURNURLs: []string{"turn:127.0.0.1:9?transport=tcp"}, TURNSecret: secret})
	logs := &lines{}
	r := make(reports, 64)
	callCtx, stop := context.WithCancel(ctx)
	c := newDialect(t, dp.URL, dp.Token).Start(callCtx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(logs)})
	r.until(t, ctx, "state:Connected")
	stop()
	if res := c.Result(); res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	got := logs.with("the server handed ICE servers")
	if len(got) != 1 || attr(got[0], "ice_urls") != "turn:127.0.0.1:9?transport=tcp" {
		t.Fatalf("want one line naming the handed URL: %v", got)
	}
	// The handed username is "EXPIRY:SESSION_ID"; neither it nor the
	// credential (nor, of course, dpsim's secret) is logged.
	user := ":" + dp.Sessions()[0].ID
	for _, l := range logs.all() {
		if strings.Contains(l, user) || strings.Contains(l, secret) || strings.Contains(l, "credential") {
			t.Fatalf("a log line shows the TURN username or credential: %s", l)
		}
	}
}

// all renders every record, message and attributes, as one string each.
func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// TestHostileICEServers: an ice_servers message beyond the protocol's
// limits (section 3.1), or before session, ends the call as
// serverConnectionFailed, whatever its size: the client never holds or
// dials what a hostile server lists.
func TestHostileICEServers(t *testing.T) {
	entries := func(n int) string {
		return `{"type":"ice_servers","ice_servers":[` + strings.TrimSuffix(strings.Repeat(`{"urls":["stun:a"]},`, n), ",") + `]}`
	}
	for _, c := range []struct {
		name      string
		session   bool
		frame     string
		malformed bool
	}{
		{"10000 servers (a frame too large)", true, entries(10000), false},
		{"3000 servers", true, entries(3000), true},
		{"9 servers", true, entries(9), true},
		{"before session", false, entries(1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			url := hostile(t, func(ws *websocket.Conn) {
				if c.session {
					send(ws, dpwire.Session{SessionID: "dp-1"})
				}
				_ = ws.WriteMessage(websocket.TextMessage, []byte(c.frame))
				_, _, _ = ws.ReadMessage() // until the client goes
			})
			call := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: make(reports, 64), Log: slog.New(&lines{})})
			guard := time.NewTimer(5 * time.Second) // a failure guard
			defer guard.Stop()
			select {
			case <-call.Done():
			case <-guard.C:
				t.Fatal("the call goes on after a hostile ice_servers")
			}
			res := call.Result()
			if res.Err == nil || res.Err.Name != contract.ServerConnectionFailed {
				t.Fatalf("result %+v, want serverConnectionFailed", res)
			}
			if c.malformed && !errors.Is(res.Err, dpwire.ErrMalformed) {
				t.Fatalf("result %+v, want malformed", res)
			}
		})
	}
}
