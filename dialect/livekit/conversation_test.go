//go:build livekit

package livekit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/session/sessiontest"
)

func conversations(evs []contract.Event) []string {
	var s []string
	for _, e := range evs {
		if e.Kind == contract.EventConversation {
			s = append(s, e.Conversation.String())
		}
	}
	return s
}

// A LiveKit agent's lk.agent.state (set by the DP with LiveKit's Go SDK,
// through a real livekit-server) reaches the kiosk as conversation state
// events, each change once; a DP that publishes none gives none; the call's
// end puts it back to none.
func TestAgentStateIsTheConversationState(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-talk"
	dp := srv.JoinDP(t, room, "dp-talk")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if c := conversations(evs); len(c) != 0 {
		t.Fatalf("conversation events %v from a DP that publishes no state", c)
	}
	want := []string{"initializing", "listening", "thinking", "speaking", "listening", "idle"}
	for i, s := range want {
		dp.SetAgentState(s)
		evs = k.rec.WaitFor(t, ctx, s, func(evs []contract.Event) bool { return len(conversations(evs)) == i+1 })
		if got := conversations(evs)[i]; got != s {
			t.Fatalf("conversation %s, want %s\n%s", got, s, sessiontest.Describe(evs))
		}
		if got := k.sup.Snapshot().Conversation.String(); got != s {
			t.Fatalf("snapshot conversation %s, want %s", got, s)
		}
	}
	dp.SetAgentState("listening")
	k.rec.WaitFor(t, ctx, "listening again", func(evs []contract.Event) bool { return len(conversations(evs)) == len(want)+1 })
	dp.Leave()
	evs = k.rec.WaitFor(t, ctx, "none after the call", func(evs []contract.Event) bool { return len(conversations(evs)) == len(want)+2 })
	if got := strings.Join(conversations(evs), " "); got != strings.Join(want, " ")+" listening none" {
		t.Fatalf("conversation events %s\n%s", got, sessiontest.Describe(evs))
	}
	if k.sup.Snapshot().Conversation != contract.ConversationNone {
		t.Fatalf("snapshot %v after the call, want none", k.sup.Snapshot().Conversation)
	}
}
