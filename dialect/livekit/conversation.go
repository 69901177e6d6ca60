package livekit

import "github.com/kioskd/kioskd/contract"

// AttrAgentState is the attribute in which a LiveKit agent publishes what
// it is doing: initializing, idle, listening, thinking, speaking (LiveKit
// Agents' AgentState).
const AttrAgentState = "lk.agent.state"

// reportConversation reports the Digital Person's conversation state when
// it changed: its lk.agent.state, or, for an avatar that publishes on an
// agent's behalf, the agent's (the agent holds the state, the avatar the
// media). A DP that never publishes the attribute is never reported (the
// supervisor's state stays none); one that drops it, or publishes a name
// kioskd does not know, goes back to none.
func (c *call) reportConversation() {
	p, ok := c.peers[c.dp]
	if !ok {
		return
	}
	if agent := p.Attributes[AttrPublishOnBehalf]; agent != "" {
		for _, sid := range c.order {
			if q := c.peers[sid]; q.Identity == agent {
				p = q
				break
			}
		}
	}
	v, published := p.Attributes[AttrAgentState]
	st, known := contract.ParseConversationState(v)
	if st == c.conv {
		return
	}
	if published && !known {
		c.log.Info("the Digital Person's lk.agent.state is not one kioskd knows: taken as none", "value", v)
	}
	c.conv = st
	c.a.Report.Conversation(st)
}
