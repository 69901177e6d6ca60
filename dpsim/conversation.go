package dpsim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kioskd/kioskd/dpwire"
)

// ConversationStates are what SetConversationState accepts: the states of
// docs/PROTOCOL.md section 4.13, and none to clear it.
var ConversationStates = []string{
	dpwire.ConversationIdle, dpwire.ConversationInitializing, dpwire.ConversationListening,
	dpwire.ConversationThinking, dpwire.ConversationSpeaking, dpwire.ConversationNone,
}

// ErrBadConversationState is returned by SetConversationState for a state
// not in ConversationStates.
var ErrBadConversationState = errors.New("dpsim: not a conversation state")

// SetConversationState has the Digital Person of every live session say
// what it is doing (conversation_state, protocol 1.5), as a LiveKit agent
// does in lk.agent.state: the connections that have sent `session` send it
// now, and a session remembers it for a later connection (a resume). It
// returns how many connections sent it.
func (s *Server) SetConversationState(state string) (int, error) {
	if !slices.Contains(ConversationStates, state) {
		return 0, fmt.Errorf("%w: %q", ErrBadConversationState, state)
	}
	return s.command(command{kind: cmdConversation, reason: state}), nil
}

// conversation applies the admin's state on the connection's loop: sent
// once the client has its session id (before, the protocol forbids it),
// and kept in the session. It changes no state of the table: the DP's
// conversation is beside the connection's progress. It says whether the
// connection sent it.
func (c *conn) conversation(state string) bool {
	if c.sess == nil || c.state < stSearching || c.state >= stClosed {
		return false
	}
	c.srv.mu.Lock()
	c.sess.conversation = state
	c.srv.notifyLocked()
	c.srv.mu.Unlock()
	c.send(dpwire.ConversationState{State: state})
	return true
}

// resendConversation repeats a resumed session's conversation state after
// `session`: the client forgot it when its last connection ended.
func (c *conn) resendConversation() {
	c.srv.mu.Lock()
	st := c.sess.conversation
	c.srv.mu.Unlock()
	if st != "" && st != dpwire.ConversationNone {
		c.send(dpwire.ConversationState{State: st})
	}
}
