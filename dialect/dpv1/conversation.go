package dpv1

import (
	"fmt"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dpwire"
)

// conversation applies the server's conversation_state (protocol 1.5,
// docs/PROTOCOL.md section 4.13): what the Digital Person is doing,
// reported once per change. A name this version does not list (none, or a
// later version's) is none. Before the session id it is out of order (a
// violation, as progress is); it needs no step of its own otherwise: an
// agent says "initializing" while its connection is still being made.
func (c *call) conversation(v dpwire.ConversationState) bool {
	if c.sessionID == "" {
		return c.violation(fmt.Errorf("%w: conversation_state before the session id", ErrOutOfOrder))
	}
	st, _ := contract.ParseConversationState(v.State)
	if st == c.conv {
		return true
	}
	c.conv = st
	c.a.Report.Conversation(st)
	return true
}
