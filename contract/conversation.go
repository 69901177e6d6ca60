package contract

import "fmt"

// ConversationState is what the Digital Person is doing in the
// conversation, beside the connection state: a LiveKit agent publishes it
// in its lk.agent.state attribute, a kioskd.dp.v1 server in its
// conversation_state message. It says whether the kiosk hears the visitor
// (listening) or the DP is busy (thinking, speaking). A DP that publishes
// none leaves it ConversationNone, and nothing changes for it; it returns
// to ConversationNone when the call ends.
type ConversationState int

const (
	// ConversationNone: no state known (no call, or a DP that publishes none).
	ConversationNone ConversationState = iota
	ConversationIdle
	ConversationInitializing
	ConversationListening
	ConversationThinking
	ConversationSpeaking
)

// conversationNames are the names on the wire (LiveKit's lk.agent.state
// values, the same in kioskd.dp.v1), in the journal and in the metrics.
var conversationNames = [...]string{
	ConversationNone:         "none",
	ConversationIdle:         "idle",
	ConversationInitializing: "initializing",
	ConversationListening:    "listening",
	ConversationThinking:     "thinking",
	ConversationSpeaking:     "speaking",
}

// AllConversationStates lists every conversation state, ConversationNone first.
var AllConversationStates = []ConversationState{ConversationNone, ConversationIdle, ConversationInitializing, ConversationListening, ConversationThinking, ConversationSpeaking}

func (c ConversationState) String() string {
	if c < 0 || int(c) >= len(conversationNames) {
		return fmt.Sprintf("ConversationState(%d)", int(c))
	}
	return conversationNames[c]
}

// ParseConversationState maps a published name to a ConversationState;
// "none" and unknown names are not a state a DP publishes (false).
func ParseConversationState(s string) (ConversationState, bool) {
	for _, c := range AllConversationStates[1:] {
		if conversationNames[c] == s {
			return c, true
		}
	}
	return ConversationNone, false
}
