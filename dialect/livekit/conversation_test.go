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

// LiveKit Agents with an avatar plugin (Tavus, Hedra, Simli, bitHuman,
// Anam, ...): the agent joins first and publishes nothing, the avatar
// joins later and publishes the face and voice on the agent's behalf
// (lk.publish_on_behalf). The kiosk takes the agent for the Digital Person
// at first (DownloadingAssets), then the avatar when it comes, reaches
// Connected on the avatar's media, reads the conversation state from the
// agent, and ends the conversation when the agent leaves even while the
// avatar stays.
func TestAvatarPublishingForAnAgentIsTheDP(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-avatar"
	agent := srv.JoinDPUnpublished(t, room, "agent-1")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "DownloadingAssets (the agent)", func(evs []contract.Event) bool {
		return count(evs, func(e contract.Event) bool { return e.State == contract.DownloadingAssets }) == 1
	})
	srv.JoinAvatar(t, room, "avatar-1", "agent-1")
	evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if d := disconnects(evs); len(d) != 0 {
		t.Fatalf("disconnects %v before Connected\n%s", d, sessiontest.Describe(evs))
	}
	k.sink.waitAudio(t, ctx, 25) // the avatar's voice at the kiosk

	agent.SetAgentState("listening")
	evs = k.rec.WaitFor(t, ctx, "listening", func(evs []contract.Event) bool { return len(conversations(evs)) == 1 })
	if got := conversations(evs)[0]; got != "listening" {
		t.Fatalf("conversation %s from the agent's lk.agent.state, want listening", got)
	}

	agent.Leave()
	evs = k.rec.WaitFor(t, ctx, "conversationEnded", func(evs []contract.Event) bool { return count(evs, isDisconnected) == 1 })
	if d := disconnects(evs); d[0] != contract.ReasonConversationEnded || k.log.count("the Digital Person's agent left the room") != 1 {
		t.Fatalf("the agent left, the avatar stayed: %v, want conversationEnded\n%s", d, sessiontest.Describe(evs))
	}
}
