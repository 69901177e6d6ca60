package session_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// The whole path of kioskd.dp.v1's conversation_state (protocol 1.5) with
// a real dpsim: its admin sets what the DP does, the kiosk reports each
// change once; a dropped control socket ends the call (none), and the
// resumed session's connection says the state again.
func TestConversationStateFromDpsim(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	k := startKiosk(t, dp, t.TempDir())
	evs := k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	if c := conversations(evs); len(c) != 0 {
		t.Fatalf("conversation events %v before the DP said anything", c)
	}
	for i, s := range []string{"listening", "thinking", "thinking", "speaking"} {
		if n := dp.SetConversationState(s); n != 1 {
			t.Fatalf("sent to %d connections, want 1", n)
		}
		want := []int{1, 2, 2, 3}[i] // the same state again is no news
		k.rec.WaitFor(t, ctx, s, func(evs []contract.Event) bool { return len(conversations(evs)) == want })
	}
	dp.SetConversationState("thinking")
	k.rec.WaitFor(t, ctx, "thinking again", func(evs []contract.Event) bool { return len(conversations(evs)) == 4 })
	dp.Drop()
	k.rec.WaitFor(t, ctx, "resumed", nthConnected(2))
	evs = k.rec.WaitFor(t, ctx, "thinking after the resume", func(evs []contract.Event) bool { return len(conversations(evs)) == 6 })
	if got := strings.Join(conversations(evs), " "); got != "listening thinking speaking thinking none thinking" {
		t.Fatalf("conversation events %s\n%s", got, sessiontest.Describe(evs))
	}
	if last := lastConnected(evs); !last.Resumed {
		t.Fatalf("not resumed\n%s", sessiontest.Describe(evs))
	}
	if k.sup.Snapshot().Conversation != contract.ConversationThinking {
		t.Fatalf("snapshot %v, want thinking", k.sup.Snapshot().Conversation)
	}
	if _, err := dp.DP.SetConversationState("dreaming"); err == nil {
		t.Fatal("dpsim took a state that is none of the protocol's")
	}
}
