package dpv1_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpwire"
)

// conversation_state (docs/PROTOCOL.md section 4.13): each change reported
// once, before ready too; a name this version does not list is none.
func TestConversationStateReportedOncePerChange(t *testing.T) {
	ctx := testCtx(t)
	url := hostile(t, func(ws *websocket.Conn) {
		send(ws, dpwire.Session{SessionID: "dp-1"})
		for _, s := range []string{"initializing", "listening", "listening", "thinking", "a_later_state", "none", "speaking"} {
			send(ws, dpwire.ConversationState{State: s})
		}
		send(ws, dpwire.Close{Reason: contract.NoScene.String()})
	})
	r := make(reports, 64)
	c := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(&lines{})})
	c.Result()
	close(r)
	var got []string
	for s := range r {
		if c, ok := strings.CutPrefix(s, "conversation:"); ok {
			got = append(got, c)
		}
	}
	if s := strings.Join(got, " "); s != "initializing listening thinking none speaking" {
		t.Fatalf("conversation reports %q", s)
	}
}

// Before the session id it is out of order: a violation that ends the call.
func TestConversationStateBeforeTheSessionIsAViolation(t *testing.T) {
	ctx := testCtx(t)
	url := hostile(t, func(ws *websocket.Conn) {
		send(ws, dpwire.ConversationState{State: "listening"})
	})
	r := make(reports, 64)
	res := newDialect(t, url, "").Start(ctx, dialect.Attempt{Media: noMedia{}, Report: r, Log: slog.New(&lines{})}).Result()
	if res.Err == nil || !errors.Is(res.Err, dpv1.ErrOutOfOrder) {
		t.Fatalf("result %+v, want an out-of-order violation", res)
	}
	close(r)
	for s := range r {
		if strings.HasPrefix(s, "conversation:") {
			t.Fatalf("reported %s", s)
		}
	}
}
