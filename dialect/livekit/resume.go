package livekit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock"
)

// LiveKit's in-call resume (docs/LIVEKIT.md, "Reconnects"): when the
// signal channel of a Connected call drops, or the host's network changes,
// the call opens a new /rtc WebSocket with reconnect=1&sid=<its participant
// SID>. The server keeps the participant, its tracks and both
// PeerConnections, answers with a ReconnectResponse and the room's
// participants, and restarts ICE on the subscriber (a new offer); the
// kiosk restarts ICE on the publisher (an offer with new credentials), as
// LiveKit's SDKs do. The capture and the speaker never stop. The call
// stays Connected throughout: media keeps flowing while only signalling is
// gone, and the contract's Disconnected would say the visitor's
// conversation stopped, which it did not (docs/BEHAVIOUR.md section 3b).
//
// Only when the resume cannot bring signalling and both PeerConnections
// back within DefaultResumeTimeout does the call end with
// controlDisconnected, and the supervisor joins the room again (same
// room, same identity, the session id resumed): the rejoin second.

// DefaultResumeTimeout bounds one in-call resume, from the drop (or the
// network change) to signalling back and both PeerConnections' ICE
// connected again. On a working network a resume takes a WebSocket
// handshake and an ICE round (tens of milliseconds on loopback, see
// docs/LIVEKIT.md "Measurements"); six seconds, as kioskd.dp.v1's ICE
// restart, leave room for a slow 4G attach and still rejoin before the
// server drops the kiosk's participant for a dead media path (its ICE
// fails after about 20 s).
const DefaultResumeTimeout = 6 * time.Second

// resumeDelays space the attempts of one resume: a refused connection (the
// server restarting) is tried again, never in a hot loop; the last delay
// repeats until the deadline.
var resumeDelays = []time.Duration{0, 200 * time.Millisecond, 500 * time.Millisecond, time.Second}

// ErrResume is the cause when an in-call resume failed (the call then
// ends with controlDisconnected and the supervisor rejoins).
var ErrResume = errors.New("livekit: in-call resume failed")

// resumed is what one resume's dialling goroutine brings back.
type resumed struct {
	sig *signal
	rr  *reconnectResponse
	err error
}

// resumeState is the call's in-call resume (owned by run).
type resumeState struct {
	server, token string // where the call joined and with what (a secret: never logged)

	active   bool   // a resume is under way
	why      string // for the log
	again    bool   // the network changed again during it
	start    time.Time
	timer    clock.Timer
	cancel   context.CancelFunc
	ch       chan resumed // the dialling goroutine's result; nil: none dialling
	sigBack  bool         // the signal channel is back; waiting for ICE
	subOffer bool         // the server's subscriber offer of this resume is answered
	full     bool         // the next participant update is the room's full list
	count    int          // resumes in this call, for the log
}

// resumeTimeout is the bound of one resume.
func (c *call) resumeTimeout() time.Duration {
	if c.d.cfg.ResumeTimeout > 0 {
		return c.d.cfg.ResumeTimeout
	}
	return DefaultResumeTimeout
}

// sigIn is the signal channel's messages; nil (never ready) while a
// resume is dialling.
func (c *call) sigIn() <-chan signalResponse {
	if c.sig == nil {
		return nil
	}
	return c.sig.In()
}

// resumeResult and resumeDeadline are the running resume's channels; nil
// when none runs.
func (c *call) resumeResult() <-chan resumed { return c.rs.ch }

func (c *call) resumeDeadline() <-chan time.Time {
	if c.rs.timer == nil {
		return nil
	}
	return c.rs.timer.C()
}

// NetworkChanged moves every Connected call of the dialect to the host's
// changed network the way LiveKit's clients do: an in-call resume with an
// ICE restart on both PeerConnections, the session and the Connected state
// kept (docs/BEHAVIOUR.md section 3b). The daemon calls it on netwatch's
// changes. A call not yet Connected ignores it (the step deadlines cover
// it). It never blocks; requests coalesce.
func (d *Dialect) NetworkChanged(why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c := range d.calls {
		select {
		case c.netChanged <- why:
		default:
		}
	}
}

func (d *Dialect) addCall(c *call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[c] = struct{}{}
}

func (d *Dialect) removeCall(c *call) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.calls, c)
}

// networkChanged: a change of the host's network (NetworkChanged).
func (c *call) networkChanged(why string) {
	switch {
	case c.state != contract.Connected:
		c.log.Debug("network change ignored: not Connected", "why", why, "state", c.state.String())
	case c.rs.active && c.rs.sigBack:
		// The signal is back but ICE is not: restart once more on the
		// network as it is now.
		c.rs.again = true
	case c.rs.active:
		// Still dialling: the dial after the change gathers afresh anyway.
	default:
		c.startResume(reconnectNetworkChange, "network changed: "+why)
	}
}

// startResume begins an in-call resume: the old signal channel is closed
// (without a leave: the participant must stay) and a goroutine dials the
// resume until the deadline.
func (c *call) startResume(reason int32, why string) {
	if c.sig != nil {
		c.sig.Close()
		c.sig = nil
	}
	if !c.rs.active {
		c.rs.start = c.d.cfg.Clock.Now()
		c.rs.timer = c.d.cfg.Clock.NewTimer(c.resumeTimeout())
		c.rs.count++
	}
	c.rs.active, c.rs.why, c.rs.sigBack, c.rs.subOffer, c.rs.again = true, why, false, false, false
	c.log.Info("resuming the LiveKit session", "room", c.join.RoomName, "why", why, "resume", c.rs.count)
	ctx, cancel := context.WithCancel(context.Background())
	c.rs.cancel = cancel
	ch := make(chan resumed, 1)
	c.rs.ch = ch
	q := resumeQuery{SID: c.join.Participant.SID, Reason: reason}
	server, token, deadline := c.rs.server, c.rs.token, c.rs.start.Add(c.resumeTimeout())
	go func() {
		var last error
		for i := 0; ; i++ {
			wait := resumeDelays[min(i, len(resumeDelays)-1)]
			left := time.Until(deadline)
			if left <= wait {
				ch <- resumed{err: fmt.Errorf("%w: %w", ErrResume, last)}
				return
			}
			select {
			case <-ctx.Done():
				ch <- resumed{err: ctx.Err()}
				return
			case <-time.After(wait):
			}
			s, rr, err := dialResume(ctx, server, token, c.d.cfg.TLS, min(c.d.cfg.ConnectTimeout, time.Until(deadline)), q)
			if err == nil {
				ch <- resumed{sig: s, rr: rr}
				return
			}
			last = err
			c.log.Debug("a resume attempt failed", "attempt", i+1, "error", err)
			if errors.Is(err, ErrNoReconnect) || errors.Is(err, ErrTokenRefused) {
				// The server answered: it has no such participant any
				// more, or refuses the token. Another try would get the
				// same answer; the rejoin is next.
				ch <- resumed{err: fmt.Errorf("%w: %w", ErrResume, err)}
				return
			}
		}
	}()
}

// resumeDialled: the resume's dial came back. On success the signal
// channel is running again and the publisher restarts ICE; the server
// restarts the subscriber's. It returns false when the call has ended.
func (c *call) resumeDialled(r resumed) bool {
	c.rs.ch, c.rs.cancel = nil, nil
	if r.err != nil {
		return c.resumeFailed(r.err)
	}
	c.sig = r.sig
	c.sig.start(secs(c.join.PingIntervalSecond), secs(c.join.PingTimeoutSeconds))
	c.rs.sigBack, c.rs.full = true, true
	// A new offer/answer exchange on both PeerConnections: the server's
	// candidates wait for their descriptions again and count afresh.
	c.haveDesc, c.nCands, c.pending = [2]bool{}, [2]int{}, [2][]webrtc.ICECandidateInit{}
	if err := c.restartPublisher(); err != nil {
		return c.resumeFailed(fmt.Errorf("%w: publisher: %w", ErrResume, err))
	}
	return c.resumeCheck()
}

// restartPublisher offers the publisher PeerConnection with new ICE
// credentials, on the host's interfaces as they are now.
func (c *call) restartPublisher() error {
	if n := c.d.cfg.Peer.Net; n != nil {
		if err := n.Refresh(); err != nil {
			c.log.Warn("reading the network interfaces failed; restarting ICE on the old list", "error", err)
		}
	}
	if len(c.pub.GetTransceivers()) == 0 {
		c.haveDesc[targetPublisher] = true // nothing published: nothing to restart
		return nil
	}
	o, err := c.pub.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return err
	}
	if err := c.pub.SetLocalDescription(o); err != nil {
		return err
	}
	return c.sig.send(reqOfferMsg(o.SDP))
}

// resumeCheck ends a resume whose signal channel is back once both
// PeerConnections have their new descriptions and ICE is connected again
// (a Connected state of pion's may be the old generation's, delivered
// late: hence the descriptions). It returns false when the call has ended.
func (c *call) resumeCheck() bool {
	if !c.rs.active || !c.rs.sigBack || !c.haveDesc[targetPublisher] || !c.rs.subOffer {
		return true
	}
	if c.rs.again {
		c.rs.again = false
		c.log.Info("the network changed again during the resume; restarting ICE once more")
		c.haveDesc[targetPublisher] = false
		if err := c.restartPublisher(); err != nil {
			return c.resumeFailed(fmt.Errorf("%w: publisher: %w", ErrResume, err))
		}
		return true
	}
	for _, pc := range []*webrtc.PeerConnection{c.pub, c.sub} {
		if len(pc.GetTransceivers()) > 0 && pc.ICEConnectionState() != webrtc.ICEConnectionStateConnected {
			return true
		}
	}
	c.stopResume()
	took := c.d.cfg.Clock.Now().Sub(c.rs.start)
	c.log.Info("LiveKit session resumed: media path back", "room", c.join.RoomName,
		"took_ms", took.Milliseconds(), "resume", c.rs.count)
	c.a.Report.PathRestart(true, took)
	return true
}

// resumeFailed ends the call as a lost signal channel after Connected
// (docs/BEHAVIOUR.md section 3, controlDisconnected): the supervisor joins
// the room again, as the same identity, and resumes the session id.
func (c *call) resumeFailed(err error) bool {
	c.stopResume()
	c.log.Warn("LiveKit resume failed; joining the room again", "room", c.join.RoomName, "error", err)
	c.a.Report.PathRestart(false, c.d.cfg.Clock.Now().Sub(c.rs.start))
	if c.sig != nil {
		// No leave: a leave would end the participant's session for the
		// Digital Person (an agent closes on CLIENT_INITIATED); the rejoin
		// with the same identity replaces it.
		c.sig.Close()
		c.sig = nil
	}
	c.result.Reason = contract.ReasonControlDisconnected
	return false
}

func (c *call) stopResume() {
	if c.rs.timer != nil {
		c.rs.timer.Stop()
		c.rs.timer = nil
	}
	if c.rs.cancel != nil {
		c.rs.cancel()
		if r := <-c.rs.ch; r.sig != nil {
			r.sig.Close()
		}
		c.rs.cancel, c.rs.ch = nil, nil
	}
	c.rs.active, c.rs.sigBack, c.rs.again = false, false, false
}

// fullUpdate reconciles the room's participants with the first update
// after a resume, which lists all of them: one missing left while
// signalling was down (its leave was never seen). It returns false when
// the call has ended (the Digital Person left).
func (c *call) fullUpdate(ps []participantInfo) bool {
	c.rs.full = false
	present := map[string]bool{}
	for _, p := range ps {
		present[p.SID] = true
	}
	for _, sid := range append([]string(nil), c.order...) {
		if !present[sid] {
			p := c.peers[sid]
			p.State = stateDisconnected
			if !c.left(p) {
				return false
			}
		}
	}
	return true
}

// refreshToken keeps the server's new access token for the next resume of
// this call and, with a static token, for the supervisor's next rejoin. It
// is never logged or stored.
func (c *call) refreshToken(tok string) {
	if tok == "" {
		return
	}
	c.rs.token = tok
	c.d.setRefreshed(c.join.RoomName, tok)
	c.log.Debug("the server refreshed the access token", "room", c.join.RoomName)
}

// setRefreshed and refreshed keep the last token the server refreshed for
// a room (in memory only).
func (d *Dialect) setRefreshed(room, tok string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshedTok = map[string]string{room: tok}
}

func (d *Dialect) refreshed(room string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refreshedTok[room]
}
