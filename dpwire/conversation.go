package dpwire

import (
	"errors"
	"fmt"
)

// TypeConversationState is the conversation_state message (protocol 1.5):
// what the Digital Person is doing in the conversation, beside the
// connection's progress (docs/PROTOCOL.md section 4.13). It is a new
// message type, not a member of progress: a 1.4 client, which rejects
// unknown members, ignores an unknown type (section 2.2).
const TypeConversationState = "conversation_state"

// The conversation states a server sends (LiveKit Agents' names).
const (
	ConversationIdle         = "idle"
	ConversationInitializing = "initializing"
	ConversationListening    = "listening"
	ConversationThinking     = "thinking"
	ConversationSpeaking     = "speaking"
	// ConversationNone clears the state (the DP no longer says).
	ConversationNone = "none"
)

// MaxConversationState is the longest state name.
const MaxConversationState = 32

// ConversationState says what the Digital Person does now (server to
// client): State is one of the names above; a client takes another
// well-formed name (a later version's) as none.
type ConversationState struct {
	State string `json:"state"`
}

func (ConversationState) MessageType() string { return TypeConversationState }

// check: a name, 1 to MaxConversationState bytes of a-z and "_".
func (c ConversationState) check() error {
	if c.State == "" {
		return errors.New("empty state")
	}
	if len(c.State) > MaxConversationState {
		return fmt.Errorf("state longer than %d bytes", MaxConversationState)
	}
	for _, r := range c.State {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return fmt.Errorf("state %s is not a name (a-z, _)", shown(c.State))
		}
	}
	return nil
}
