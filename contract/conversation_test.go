package contract

import "testing"

// Every conversation state has its wire name and parses back; "none" and
// strangers are not states a DP publishes.
func TestConversationStateNames(t *testing.T) {
	want := []string{"none", "idle", "initializing", "listening", "thinking", "speaking"}
	if len(AllConversationStates) != len(want) {
		t.Fatalf("%d states, want %d", len(AllConversationStates), len(want))
	}
	for i, c := range AllConversationStates {
		if c.String() != want[i] {
			t.Errorf("state %d is %q, want %q", i, c, want[i])
		}
		got, ok := ParseConversationState(want[i])
		if i == 0 {
			if ok {
				t.Errorf("%q parsed as a published state", want[i])
			}
			continue
		}
		if !ok || got != c {
			t.Errorf("parse %q = %v %v, want %v", want[i], got, ok, c)
		}
	}
	if ConversationState(0) != ConversationNone {
		t.Error("the zero value must be ConversationNone")
	}
	for _, s := range []string{"", "Listening", "sleeping", "none"} {
		if c, ok := ParseConversationState(s); ok || c != ConversationNone {
			t.Errorf("parse %q = %v %v, want none false", s, c, ok)
		}
	}
	if s := ConversationState(99).String(); s != "ConversationState(99)" {
		t.Errorf("out of range: %q", s)
	}
}
