package dpv1

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dpwire"
)

// DefaultICERestartTimeout bounds an ICE restart (docs/PROTOCOL.md section
// 4.12): from the ice_restart sent to the PeerConnection connected again.
// A 1.2 server ignores the message, so without this bound the kiosk would
// wait for an answer that never comes; past it the call ends with
// controlDisconnected and the supervisor resumes the session, as it would
// have without ICE restarts. A restart on a working network takes a
// round trip and a STUN check or two (tens of milliseconds); six seconds
// leave room for a slow 4G attach without keeping a visitor waiting
// longer than a resume would.
const DefaultICERestartTimeout = 6 * time.Second

// ErrICERestart is the cause when an ICE restart could not bring the media
// back (a bad answer, the deadline, a failure of the PeerConnection during it).
var ErrICERestart = errors.New("ICE restart failed")

// NetworkChanged asks every call of the dialect that is Connected to
// restart ICE on its PeerConnection (docs/BEHAVIOUR.md, network changes):
// the daemon calls it when the host's addresses or default route changed.
// A call that is not Connected ignores it (the step deadlines cover a call
// still connecting). It never blocks; requests coalesce.
func (d *Dialect) NetworkChanged(why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.calls {
		c.requestRestart(why)
	}
}

func (d *Dialect) addCall(c *call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.calls == nil {
		d.calls = map[*call]struct{}{}
	}
	d.calls[c] = struct{}{}
}

func (d *Dialect) removeCall(c *call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.calls, c)
}

// requestRestart hands a restart request to the run goroutine; one pending
// request is as good as many.
func (c *call) requestRestart(why string) {
	select {
	case c.restartReq <- why:
	default:
	}
}

// restartTimeout is the bound of one ICE restart.
func (c *call) restartTimeout() time.Duration {
	if c.d.cfg.ICERestartTimeout > 0 {
		return c.d.cfg.ICERestartTimeout
	}
	return DefaultICERestartTimeout
}

// restartDeadline is the channel of the running restart's deadline; nil
// (never ready) when no restart runs.
func (c *call) restartDeadline() <-chan time.Time {
	if c.restartTimer == nil {
		return nil
	}
	return c.restartTimer.C()
}

// restartICE restarts ICE on the call's PeerConnection: an offer with new
// credentials sent as ice_restart, the answer applied like the first one
// (the same code: haveAnswer is false again), the candidates of the new
// generation trickled both ways. The call stays Connected throughout. It
// returns false when the call has ended.
func (c *call) restartICE(why string) bool {
	if t, err := step(c.state, inNetworkChanged); err != nil || t.act != actRestartICE || c.pc == nil {
		c.log.Debug("network change ignored: not Connected", "why", why, "state", c.state.String())
		return true
	}
	if c.restarting && !c.haveAnswer {
		// A change during a restart, before its answer: one more restart
		// as soon as the answer is in (one offer at a time), so that the
		// candidates reflect the network as it is now. An address lost
		// and a new one seconds later (Wi-Fi to 4G) is two changes, and
		// the first restart may have gathered on no usable address.
		c.restartAgain = true
		return true
	}
	// Idle, or a restart whose answer is in but which has not connected:
	// restart now, with a fresh bound.
	c.stopRestartTimer()
	// The interfaces as they are now: pion read them when the
	// PeerConnection was made (rtc.Net).
	if err := c.d.cfg.Peer.Net.Refresh(); err != nil {
		c.log.Warn("reading the network interfaces failed; restarting ICE on the old list", "error", err)
	}
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err == nil {
		err = c.pc.SetLocalDescription(offer)
	}
	if err != nil {
		return c.restartFailed(fmt.Errorf("%w: offer: %v", ErrICERestart, err))
	}
	if !c.restarting {
		c.restartStart = c.d.cfg.Clock.Now() // took_ms counts from the first of a chain
	}
	c.restarting = true
	c.restarts++
	c.restartTimer = c.d.cfg.Clock.NewTimer(c.restartTimeout())
	// A new offer/answer exchange: the server's candidates wait for its
	// answer again, and the limit of section 3.1 counts afresh.
	c.haveAnswer, c.remoteCands, c.pendingCands = false, 0, nil
	c.log.Info("restarting ICE", "why", why, "ice_restart", c.restarts)
	if err := c.conn.Send(dpwire.ICERestart{SDP: offer.SDP}); err != nil {
		c.lost(err)
		return false
	}
	return true
}

// restartDone: the PeerConnection is connected again after a restart.
//
// pion reports state changes from goroutines of its own, so a Connected
// may be the old generation's, delivered late: the restart is done only
// when the answer is applied and pion's ICE state is connected again
// (Restart sets it to checking at once, in CreateOffer).
func (c *call) restartDone() bool {
	if !c.restarting || !c.haveAnswer || c.pc.ICEConnectionState() != webrtc.ICEConnectionStateConnected {
		return true
	}
	c.stopRestartTimer()
	c.restarting = false
	took := c.d.cfg.Clock.Now().Sub(c.restartStart)
	c.log.Info("ICE restart: media path back", "ice_candidate_pair", selectedPair(c.pc), "took_ms", took.Milliseconds())
	c.a.Report.PathRestart(true, took)
	return true
}

// restartAnswered: the answer to a restart is applied. A change that came
// while it was out is restarted on now; otherwise the restart is done if
// ICE is already connected again.
func (c *call) restartAnswered() bool {
	if c.restartAgain {
		c.restartAgain = false
		return c.restartICE("network changed during the restart")
	}
	return c.restartDone()
}

// restartFailed ends the call the way a lost control socket after
// Connected does (docs/BEHAVIOUR.md section 3, controlDisconnected): the
// supervisor resumes the session on a new socket with a new PeerConnection.
func (c *call) restartFailed(err error) bool {
	c.stopRestartTimer()
	c.log.Warn("ICE restart failed; resuming the session on a new connection", "error", err)
	var took time.Duration
	if c.restarting { // not when the first offer of a chain could not be made
		took = c.d.cfg.Clock.Now().Sub(c.restartStart)
	}
	c.a.Report.PathRestart(false, took)
	c.sendClose(contract.ReasonControlDisconnected.String())
	c.result.Reason = contract.ReasonControlDisconnected
	return false
}

func (c *call) stopRestartTimer() {
	if c.restartTimer != nil {
		c.restartTimer.Stop()
		c.restartTimer = nil
	}
}
