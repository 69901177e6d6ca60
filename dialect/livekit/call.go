package livekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/rtc"
)

// AttrPublishOnBehalf is the attribute a participant that publishes for
// an agent (an avatar worker) carries, naming the agent.
const AttrPublishOnBehalf = "lk.publish_on_behalf"

// maxCandidates bounds the server's ICE candidates applied (or buffered)
// per PeerConnection: each costs pion a goroutine and candidate pairs.
const maxCandidates = 64

// maxParticipants bounds the remote participants a call keeps: a kiosk's
// room holds the kiosk, the Digital Person and perhaps an agent, a
// recorder or staff; a server announcing thousands (a hostile or broken
// one) must not grow the kiosk's memory without end. Participants past
// it are ignored (logged once); the DP is normally among the first.
const maxParticipants = 64

// Causes inside a ConnectError (they reach the journal; none holds the token).
var (
	ErrDPLeft     = errors.New("livekit: the Digital Person left the room before Connected")
	ErrSignalLost = errors.New("livekit: signalling lost before Connected")
	ErrRoomClosed = errors.New("livekit: the room was closed")
	ErrOtherRoom  = errors.New("livekit: the stored session is another room than the token's")
	ErrPeerFailed = errors.New("livekit: WebRTC (ICE/DTLS) failed")
)

type abort struct {
	name  contract.ErrorName
	cause error
}

// event is what pion's callbacks tell the run goroutine, which owns all of
// the call's state.
type event struct {
	kind     eventKind
	target   int32 // targetPublisher or targetSubscriber
	cand     *webrtc.ICECandidate
	pcState  webrtc.PeerConnectionState
	streamID string // of a remote track: "<participant SID>|<track SID>"
	trackID  string
	track    webrtc.RTPCodecType
	ssrc     webrtc.SSRC // of a remote track, for the silence watch (silence.go)
}

type eventKind int

const (
	evCandidate eventKind = iota // a local ICE candidate of target
	evPCState                    // target's PeerConnection state changed
	evTrack                      // a remote track is arriving
)

type call struct {
	d   *Dialect
	a   dialect.Attempt
	log *slog.Logger

	done   chan struct{}
	aborts chan abort
	events chan event
	result dialect.Result

	// Owned by run.
	state    contract.ConnectionState
	sig      *signal
	join     *joinResponse
	pub, sub *webrtc.PeerConnection
	peers    map[string]participantInfo // remote participants by SID
	order    []string                   // their SIDs as they came: "the first agent" is stable
	dp       string                     // the Digital Person's SID, once chosen
	conv     contract.ConversationState // the DP's conversation state as last reported
	arriving map[string]map[webrtc.RTPCodecType]bool
	noFace   map[string]bool              // the DP's video tracks in a codec the kiosk does not receive (logged once)
	tooMany  bool                         // participants past maxParticipants were ignored (logged once)
	toAdd    map[string]dialect.SendTrack // our tracks the server has not acknowledged yet (by cid)
	pubUp    bool                         // the publisher PeerConnection is connected
	rate     *dialect.RateControl         // the publisher's congestion control
	offered  bool
	pending  [2][]webrtc.ICECandidateInit // server candidates before a remote description
	haveDesc [2]bool
	nCands   [2]int

	// In-call resume and network changes (resume.go); media silence of
	// the Digital Person (silence.go). netChanged is fed by
	// Dialect.NetworkChanged.
	rs         resumeState
	netChanged chan string
	sil        silenceState

	sinkCtx     context.Context
	sinkCancel  context.CancelFunc
	sinks       sync.WaitGroup
	sinkMu      sync.Mutex
	sinksClosed bool
}

func newCall(d *Dialect, a dialect.Attempt) *call {
	c := &call{
		d: d, a: a, log: a.Log,
		done:     make(chan struct{}),
		aborts:   make(chan abort, 1),
		events:   make(chan event, 256),
		peers:    map[string]participantInfo{},
		arriving: map[string]map[webrtc.RTPCodecType]bool{},
		noFace:   map[string]bool{},
		toAdd:    map[string]dialect.SendTrack{},
		sil:      silenceState{ssrc: map[string]webrtc.SSRC{}},

		netChanged: make(chan string, 1),
	}
	c.sinkCtx, c.sinkCancel = context.WithCancel(context.Background())
	return c
}

func (c *call) Done() <-chan struct{} { return c.done }

func (c *call) Result() dialect.Result {
	<-c.done
	return c.result
}

func (c *call) Abort(name contract.ErrorName, cause error) {
	select {
	case c.aborts <- abort{name, cause}:
	default:
	}
}

// post hands a pion callback to the run goroutine; after the call has
// ended it is dropped instead of blocking pion.
func (c *call) post(ev event) {
	select {
	case c.events <- ev:
	case <-c.done:
	}
}

func (c *call) setState(st contract.ConnectionState) {
	if st <= c.state {
		return // forward only, once per change
	}
	c.state = st
	c.a.Report.State(st)
}

func (c *call) run(ctx context.Context) {
	defer close(c.done)
	defer c.teardown()
	c.d.addCall(c)
	defer c.d.removeCall(c)

	if c.d.cfg.TokenEndpoint == "" && c.a.Resume != "" && c.a.Resume != c.d.cfg.Room {
		c.fail(contract.NoSessionToResume, fmt.Errorf("%w (room %q)", ErrOtherRoom, c.a.Resume))
		return
	}
	if !c.dial(ctx) {
		return
	}
	j := c.join
	resumed := c.a.Resume != ""
	if c.d.sawRoom(j.RoomName, j.RoomSID) && resumed {
		// The room was made anew under its name: the server restarted
		// (its rooms live in memory) or the room emptied out. A room the
		// kiosk saw deleted or was removed from ended the conversation
		// (conversationEnded: nothing to resume), so this is the same
		// session, resumed (docs/LIVEKIT.md, "Reconnects").
		c.log.Info("the room was made anew under its name; resuming it", "room", j.RoomName, "room_sid", j.RoomSID)
	}
	c.result.SessionID, c.result.Resumed = j.RoomName, resumed
	c.log.Info("joined the LiveKit room", "room", j.RoomName, "room_sid", j.RoomSID,
		"identity", j.Participant.Identity, "server_version", j.ServerVersion)
	c.a.Report.Session(j.RoomName, resumed)
	c.setState(contract.SearchingForDigitalPerson)
	if err := c.startPeers(); err != nil {
		c.fail(contract.MediaStreamFailed, err)
		return
	}
	for _, p := range j.Others {
		c.upsert(p)
	}
	c.look()

	for {
		select {
		case <-ctx.Done():
			c.endByUs()
			return
		case ab := <-c.aborts:
			if c.state == contract.Connected {
				c.log.Debug("ignoring an abort that came after Connected", "error_name", ab.name.String(), "error", ab.cause)
				continue
			}
			c.fail(ab.name, ab.cause)
			return
		case r, ok := <-c.sigIn():
			if !ok {
				if c.state == contract.Connected {
					// LiveKit's resume first (resume.go), the rejoin second.
					c.log.Info("LiveKit signalling lost", "room", c.join.RoomName, "error", c.sig.Err())
					c.startResume(reconnectSignalLost, "signalling lost")
					continue
				}
				c.signalLost(c.sig.Err())
				return
			}
			if !c.handle(r) {
				return
			}
		case ev := <-c.events:
			if !c.handleEvent(ev) {
				return
			}
		case err := <-c.a.Media.Failed():
			c.mediaFailed(err)
			return
		case r := <-c.resumeResult():
			if !c.resumeDialled(r) {
				return
			}
		case <-c.resumeDeadline():
			c.rs.timer = nil
			c.resumeFailed(fmt.Errorf("%w: not back within %s", ErrResume, c.resumeTimeout()))
			return
		case why := <-c.netChanged:
			c.networkChanged(why)
		case <-c.silenceTick():
			if !c.silenceCheck() {
				return
			}
		}
	}
}

// dial opens the signal channel and reads the join response; the
// supervisor's deadline (an Abort) or a shutdown (ctx) cuts it short. It
// returns false when the call has ended.
func (c *call) dial(ctx context.Context) bool {
	type dialed struct {
		sig  *signal
		join *joinResponse
		err  error
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan dialed, 1)
	go func() {
		server, token := c.d.cfg.URL, c.d.cfg.Token
		if t := c.d.refreshed(c.d.cfg.Room); t != "" && c.d.cfg.TokenEndpoint == "" {
			token = t // the server's refresh of the static token (resume.go)
		}
		if c.d.cfg.TokenEndpoint != "" {
			room := c.d.roomFor(c.a.Resume)
			c.log.Info("asking the token endpoint for a room", "room", room, "identity", c.d.cfg.Identity)
			var err error
			if server, token, err = c.d.fetchToken(dctx, room, c.d.cfg.ConnectTimeout); err != nil {
				ch <- dialed{err: err}
				return
			}
		}
		s, j, err := dialSignal(dctx, server, token, c.d.cfg.TLS, c.d.cfg.ConnectTimeout)
		c.rs.server, c.rs.token = server, token // read by run after ch
		ch <- dialed{s, j, err}
	}()
	var r dialed
	select {
	case r = <-ch:
	case ab := <-c.aborts:
		cancel()
		if r = <-ch; r.sig != nil {
			c.sig = r.sig // joined in the same instant: teardown leaves
			r.sig.start(0, 0)
		}
		c.fail(ab.name, ab.cause)
		return false
	}
	if r.err != nil {
		if ctx.Err() != nil {
			c.endByUs()
			return false
		}
		if c.a.Resume != "" && errors.Is(r.err, ErrRoomNotFound) {
			// A server that does not create rooms on join (room.auto_create
			// off): the stored room no longer exists.
			c.fail(contract.NoSessionToResume, r.err)
			return false
		}
		c.fail(contract.ServerConnectionFailed, r.err)
		return false
	}
	c.sig, c.join = r.sig, r.join
	r.sig.start(secs(r.join.PingIntervalSecond), secs(r.join.PingTimeoutSeconds))
	return true
}

// startPeers makes the publisher and subscriber PeerConnections and asks
// the server to accept our tracks (AddTrackRequest); the publisher's
// offer follows their acknowledgements.
func (c *call) startPeers() error {
	cfg := webrtc.Configuration{
		ICEServers:         c.iceServers(),
		ICETransportPolicy: c.d.cfg.Peer.TransportPolicy(),
	}
	var err error
	var est cc.BandwidthEstimator
	if c.pub, est, err = c.d.api.NewPeerConnectionFrom(cfg, initialEstimate); err != nil {
		return err
	}
	c.controlRate(est)
	if c.sub, _, err = c.d.api.NewPeerConnection(cfg); err != nil {
		return err
	}
	for target, pc := range map[int32]*webrtc.PeerConnection{targetPublisher: c.pub, targetSubscriber: c.sub} {
		pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand != nil {
				c.post(event{kind: evCandidate, target: target, cand: cand})
			}
		})
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
			c.post(event{kind: evPCState, target: target, pcState: st})
		})
	}
	c.sub.OnTrack(c.onTrack)
	tracks := c.a.Media.Send()
	if len(tracks) == 0 {
		// Nothing to send (camera and microphone both none): the kiosk
		// only listens, and Connected waits for the DP's media alone.
		c.offered, c.pubUp = true, true
	}
	for _, t := range tracks {
		m := addTrackMsg{CID: t.ID(), Name: "microphone", Type: trackAudio, Source: sourceMicrophone}
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			m = addTrackMsg{CID: t.ID(), Name: "camera", Type: trackVideo, Source: sourceCamera}
		}
		c.toAdd[m.CID] = t
		if err := c.sig.send(reqAddTrackMsg(m)); err != nil {
			return fmt.Errorf("publish %s track: %w", t.Kind(), err)
		}
	}
	return nil
}

// iceServers are the configured ones, then the server's.
func (c *call) iceServers() []webrtc.ICEServer {
	out := append([]webrtc.ICEServer(nil), c.d.cfg.Peer.ICEServers...)
	for _, s := range c.join.ICEServers {
		ws := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			ws.Credential, ws.CredentialType = s.Credential, webrtc.ICECredentialTypePassword
		}
		out = append(out, ws)
	}
	return out
}

// onTrack runs a remote track in a goroutine of its own, as dialect.Media
// asks, and tells the run goroutine whose it is.
func (c *call) onTrack(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	c.sinkMu.Lock()
	if c.sinksClosed {
		c.sinkMu.Unlock()
		return
	}
	c.sinks.Add(1)
	c.sinkMu.Unlock()
	c.post(event{kind: evTrack, streamID: tr.StreamID(), trackID: tr.ID(), track: tr.Kind(), ssrc: tr.SSRC()})
	go func() {
		defer c.sinks.Done()
		c.a.Media.HandleTrack(c.sinkCtx, tr, rcv)
	}()
}

// handle applies one server message; it returns false when the call has
// ended.
func (c *call) handle(r signalResponse) bool {
	switch {
	case r.Offer != nil:
		if err := c.answer(r.Offer.SDP); err != nil {
			return c.peerFailed(fmt.Errorf("subscriber: %w", err))
		}
		if c.rs.sigBack {
			c.rs.subOffer = true // the server's ICE restart of the subscriber
		}
	case r.Answer != nil:
		if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: r.Answer.SDP}); err != nil {
			return c.peerFailed(fmt.Errorf("publisher: the server's answer: %w", err))
		}
		c.remoteSet(targetPublisher)
	case r.Trickle != nil:
		c.trickle(r.Trickle)
	case r.UpdateSet:
		if c.rs.full && !c.fullUpdate(r.Update) {
			return false
		}
		for _, p := range r.Update {
			if p.SID == c.join.Participant.SID || p.Identity == c.join.Participant.Identity {
				continue
			}
			if p.State == stateDisconnected {
				if !c.left(p) {
					return false
				}
				continue
			}
			c.upsert(p)
		}
	case r.TrackPublished != nil:
		t := c.toAdd[r.TrackPublished.CID]
		if t == nil {
			return true
		}
		delete(c.toAdd, r.TrackPublished.CID)
		if _, err := c.pub.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			return c.peerFailed(fmt.Errorf("publish %s track: %w", t.Kind(), err))
		}
		if len(c.toAdd) == 0 {
			if err := c.offer(); err != nil {
				return c.peerFailed(fmt.Errorf("publisher: %w", err))
			}
		}
	case r.Leave != nil:
		if c.state == contract.Connected && r.Leave.Action == leaveResume {
			// The server asks for a resume (LiveKit's LeaveRequest RESUME).
			c.startResume(reconnectSignalLost, "the server asked to resume ("+r.Leave.Reason.String()+")")
			return true
		}
		return c.disconnected(r.Leave.Reason)
	case r.RefreshToken != "":
		c.refreshToken(r.RefreshToken)
	}
	c.look()
	return c.resumeCheck()
}

// answer answers the server's offer for the subscriber PeerConnection.
func (c *call) answer(sdp string) error {
	if err := c.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	c.remoteSet(targetSubscriber)
	ans, err := c.sub.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.sub.SetLocalDescription(ans); err != nil {
		return err
	}
	return c.sig.send(reqAnswerMsg(ans.SDP))
}

// offer offers the publisher PeerConnection, with our tracks, and starts
// forwarding the server's keyframe requests to their encoders.
func (c *call) offer() error {
	o, err := c.pub.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := c.pub.SetLocalDescription(o); err != nil {
		return err
	}
	if !c.offered {
		c.offered = true
		for _, tr := range c.pub.GetTransceivers() {
			if s := tr.Sender(); s != nil {
				if t, ok := s.Track().(dialect.SendTrack); ok {
					c.sinks.Add(1)
					go c.readRTCP(s, t)
				}
			}
		}
	}
	return c.sig.send(reqOfferMsg(o.SDP))
}

// readRTCP drains a sender's RTCP (the interceptors need it read) and
// passes keyframe requests to the encoder. It ends with the PeerConnection.
func (c *call) readRTCP(sender *webrtc.RTPSender, t dialect.SendTrack) {
	defer c.sinks.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				t.RequestKeyFrame()
			}
		}
	}
}

func (c *call) pc(target int32) *webrtc.PeerConnection {
	if target == targetSubscriber {
		return c.sub
	}
	return c.pub
}

// trickle applies (or, before the remote description, keeps) one of the
// server's candidates; past maxCandidates per PeerConnection they are
// ignored.
func (c *call) trickle(t *trickleMsg) {
	if t.Target != targetPublisher && t.Target != targetSubscriber {
		return
	}
	var ci webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(t.CandidateInit), &ci); err != nil || ci.Candidate == "" {
		return // the end marker, or garbage: pion needs neither
	}
	if c.nCands[t.Target]++; c.nCands[t.Target] > maxCandidates {
		if c.nCands[t.Target] == maxCandidates+1 {
			c.log.Warn("ignoring the server's ICE candidates past the limit", "limit", maxCandidates)
		}
		return
	}
	if !c.haveDesc[t.Target] {
		c.pending[t.Target] = append(c.pending[t.Target], ci)
		return
	}
	c.addCandidate(t.Target, ci)
}

func (c *call) remoteSet(target int32) {
	c.haveDesc[target] = true
	for _, ci := range c.pending[target] {
		c.addCandidate(target, ci)
	}
	c.pending[target] = nil
}

func (c *call) addCandidate(target int32, ci webrtc.ICECandidateInit) {
	if err := c.pc(target).AddICECandidate(ci); err != nil {
		c.log.Warn("ignoring a remote ICE candidate", "error", err)
	}
}

// handleEvent applies one of pion's callbacks; false: the call has ended.
func (c *call) handleEvent(ev event) bool {
	switch ev.kind {
	case evCandidate:
		j, err := json.Marshal(ev.cand.ToJSON())
		if err == nil && c.sig != nil { // none while a resume dials: the restart gathers anew
			_ = c.sig.send(reqTrickleMsg(trickleMsg{CandidateInit: string(j), Target: ev.target}))
		}
	case evPCState:
		switch ev.pcState {
		case webrtc.PeerConnectionStateConnected:
			if ev.target == targetPublisher {
				c.pubUp = true
			}
		case webrtc.PeerConnectionStateDisconnected:
			// The media path to the server is lost (nothing received for
			// ICE's disconnected timeout) while signalling may well live:
			// an outage, or a network change netwatch did not see. LiveKit's
			// clients resume then (RR_PUBLISHER_FAILED/RR_SUBSCRIBER_FAILED),
			// as kioskd.dp.v1 restarts ICE (docs/BEHAVIOUR.md section 3b).
			// A state delivered late (ICE back meanwhile) is ignored.
			pc, reason, which := c.pub, int32(reconnectPubFailed), "publisher"
			if ev.target == targetSubscriber {
				pc, reason, which = c.sub, reconnectSubFailed, "subscriber"
			}
			if c.state == contract.Connected && !c.rs.active && pc.ConnectionState() == webrtc.PeerConnectionStateDisconnected {
				c.startResume(reason, "the "+which+"'s media path is lost (ICE disconnected)")
			}
		case webrtc.PeerConnectionStateFailed:
			which := "publisher"
			if ev.target == targetSubscriber {
				which = "subscriber"
			}
			if c.rs.active {
				return c.resumeFailed(fmt.Errorf("%w: %w (%s)", ErrResume, ErrPeerFailed, which))
			}
			return c.peerFailed(fmt.Errorf("%w (%s)", ErrPeerFailed, which))
		}
	case evTrack:
		// LiveKit's stream id names the publisher ("<participant SID>|<track
		// SID>"), even when the track comes before its participant update.
		pid, _, found := strings.Cut(ev.streamID, "|")
		if !found || pid == "" {
			pid = c.trackOwner(ev.trackID)
		}
		if pid != "" {
			if c.arriving[pid] == nil {
				c.arriving[pid] = map[webrtc.RTPCodecType]bool{}
			}
			c.arriving[pid][ev.track] = true
			if ev.track == webrtc.RTPCodecTypeAudio {
				c.sil.ssrc[pid] = ev.ssrc
			}
		}
	}
	c.look()
	return c.resumeCheck()
}

// trackOwner is the SID of the participant that published the track
// ("" if none did, as far as we know).
func (c *call) trackOwner(trackSID string) string {
	for sid, p := range c.peers {
		for _, t := range p.Tracks {
			if t.SID == trackSID {
				return sid
			}
		}
	}
	return ""
}

// upsert records a participant as the server describes it now.
func (c *call) upsert(p participantInfo) {
	if _, ok := c.peers[p.SID]; !ok {
		if len(c.peers) >= maxParticipants {
			if !c.tooMany {
				c.tooMany = true
				c.log.Warn("the room has more participants than kioskd keeps; ignoring the others", "max", maxParticipants)
			}
			return
		}
		c.order = append(c.order, p.SID)
	}
	c.peers[p.SID] = p
}

// left forgets a participant that left; the Digital Person leaving ends the
// call (false).
func (c *call) left(p participantInfo) bool {
	if _, ok := c.peers[p.SID]; !ok {
		return true
	}
	// The agent behind the avatar leaving ends the conversation as the
	// DP's own leave does: no one holds it any more, whatever the avatar
	// still sends (an idle face, a silent voice) until it notices.
	agentLeft := p.SID != c.dp && c.dp != "" && c.agentOfDP() == p.Identity
	delete(c.peers, p.SID)
	delete(c.arriving, p.SID)
	for i, sid := range c.order {
		if sid == p.SID {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	switch {
	case agentLeft:
		c.log.Info("the Digital Person's agent left the room", "identity", p.Identity, "reason", p.DisconnectReason.String())
	case p.SID != c.dp:
		return true
	default:
		c.log.Info("the Digital Person left the room", "identity", p.Identity, "reason", p.DisconnectReason.String())
	}
	if c.state == contract.Connected {
		c.result.Reason = contract.ReasonConversationEnded
		if p.DisconnectReason == ServerShutdown || p.DisconnectReason == Migration {
			// The server sent everyone away (a second SIGTERM, a
			// migration): the DP did not end the conversation, and
			// comes back to the room when the server is back.
			c.result.Reason = contract.ReasonControlDisconnected
		}
		return false
	}
	return c.fail(contract.ServerConnectionFailed, fmt.Errorf("%w (%s)", ErrDPLeft, p.DisconnectReason))
}

// signalLost: the signal channel ended without a leave.
func (c *call) signalLost(err error) {
	c.log.Info("LiveKit signalling lost", "room", c.join.RoomName, "error", err)
	if c.state == contract.Connected {
		c.result.Reason = contract.ReasonControlDisconnected
		return
	}
	c.fail(contract.ServerConnectionFailed, fmt.Errorf("%w: %w", ErrSignalLost, err))
}

// disconnected maps the reason the room ended for us onto
// docs/BEHAVIOUR.md sections 2 and 3 (docs/LIVEKIT.md has the table).
func (c *call) disconnected(r DisconnectReason) bool {
	c.log.Info("left the LiveKit room", "room", c.join.RoomName, "reason", r.String())
	if c.state != contract.Connected {
		return c.fail(contract.ServerConnectionFailed, fmt.Errorf("%w (%s)", ErrRoomClosed, r))
	}
	switch r {
	case RoomDeleted, RoomClosed, ParticipantRemoved, UserRejected:
		c.result.Reason = contract.ReasonConversationEnded
	case DuplicateIdentity:
		// Another kiosk (a copied configuration) took our identity.
		c.result.Reason = contract.ReasonControlDisconnected
		c.result.TakenOver = true
	default:
		c.result.Reason = contract.ReasonControlDisconnected
	}
	return false
}

// look finds the Digital Person among the room's participants and moves
// the state as far as what it sees allows.
func (c *call) look() {
	if c.dp == "" || c.state < contract.Connected {
		// Before Connected the choice may still move: from an agent to
		// the avatar that joins later to publish on its behalf.
		if sid := c.findDP(); sid != "" && sid != c.dp {
			if c.dp != "" {
				c.log.Info("the Digital Person's avatar is in the room", "identity", c.peers[sid].Identity,
					"agent", c.peers[sid].Attributes[AttrPublishOnBehalf])
			} else {
				c.log.Info("the Digital Person is in the room", "identity", c.peers[sid].Identity)
			}
			c.dp = sid
		}
	}
	rp, ok := c.peers[c.dp]
	if !ok {
		return
	}
	c.setState(contract.DownloadingAssets)
	c.reportConversation()
	if len(rp.Tracks) == 0 {
		return
	}
	c.setState(contract.ConnectingToDigitalPerson)
	want, unreceivable := wantedTracks(rp.Tracks)
	for _, t := range unreceivable {
		if !c.noFace[t.SID] {
			c.noFace[t.SID] = true
			c.log.Warn("the Digital Person's face is in a codec kioskd does not receive; Connected on its voice alone",
				"identity", rp.Identity, "track", t.SID, "codecs", strings.Join(t.MimeTypes, ","))
		}
	}
	// The voice is what makes a conversation; our own tracks must be
	// published and flowing too.
	if !want[webrtc.RTPCodecTypeAudio] || len(c.toAdd) > 0 || !c.offered || !c.pubUp {
		return
	}
	for k := range want {
		if !c.arriving[c.dp][k] {
			return
		}
	}
	if c.state != contract.Connected {
		c.result.Connected = c.d.cfg.Clock.Now()
		c.startSilence()
	}
	c.setState(contract.Connected)
}

// wantedTracks are the kinds of the DP's tracks that must arrive for
// Connected, and its video tracks that cannot: published in a codec the
// kiosk's engine does not receive (rtc: VP8 only; an avatar may publish
// H.264 or AV1 without a VP8 backup), whose negotiation the kiosk's answer
// declines, so they would never arrive and the call would wait for them
// until the step deadline, attempt after attempt.
func wantedTracks(tracks []trackInfo) (want map[webrtc.RTPCodecType]bool, unreceivable []trackInfo) {
	want = map[webrtc.RTPCodecType]bool{}
	for _, t := range tracks {
		switch t.Type {
		case trackAudio:
			want[webrtc.RTPCodecTypeAudio] = true
		case trackVideo:
			if receivable(t) {
				want[webrtc.RTPCodecTypeVideo] = true
			} else {
				unreceivable = append(unreceivable, t)
			}
		}
	}
	return want, unreceivable
}

// receivable: the track's codecs are unknown yet, or one of them is the
// kiosk's video codec.
func receivable(t trackInfo) bool {
	if len(t.MimeTypes) == 0 {
		return true
	}
	for _, m := range t.MimeTypes {
		if strings.EqualFold(m, rtc.Codec(webrtc.RTPCodecTypeVideo).MimeType) {
			return true
		}
	}
	return false
}

// findDP is the configured identity, else the first avatar (a participant
// publishing on an agent's behalf), else the first agent participant. With
// LiveKit Agents' avatar plugins the agent joins first and publishes
// nothing: it sends its voice to the avatar, which publishes the face and
// the voice in its name (lk.publish_on_behalf). The avatar is then the
// Digital Person the kiosk sees and hears; the agent keeps the
// conversation state (reportConversation) and leaving ends it (left).
func (c *call) findDP() string {
	agent := ""
	for _, sid := range c.order {
		p := c.peers[sid]
		if id := c.d.cfg.DPIdentity; id != "" {
			if p.Identity == id {
				return sid
			}
			continue
		}
		if p.Attributes[AttrPublishOnBehalf] != "" {
			return sid
		}
		if p.Kind == kindAgent && agent == "" {
			agent = sid
		}
	}
	return agent
}

// agentOfDP is the identity of the agent the Digital Person publishes for
// ("" when it is an agent itself).
func (c *call) agentOfDP() string {
	return c.peers[c.dp].Attributes[AttrPublishOnBehalf]
}

// peerFailed: a PeerConnection failed or could not be negotiated: a
// media failure (docs/BEHAVIOUR.md section 2).
func (c *call) peerFailed(err error) bool {
	c.mediaFailed(err)
	return false
}

func (c *call) mediaFailed(err error) {
	if c.state == contract.Connected {
		c.result.MediaErr = err
		return
	}
	c.fail(contract.MediaStreamFailed, err)
}

func (c *call) fail(name contract.ErrorName, cause error) bool {
	detail := contract.NoDetail
	if name == contract.ServerConnectionFailed && (errors.Is(cause, ErrTokenRefused) || errors.Is(cause, ErrEndpointRefused)) {
		// The access token was refused: staff call support (contract.ErrorDetail).
		detail = contract.DetailUnauthorized
	}
	c.result.Err = contract.NewConnectErrorDetail(name, detail, cause)
	return false
}

func (c *call) endByUs() {
	c.result.ByUs = true
	if c.result.Err == nil {
		c.result.Reason = contract.ReasonNormal
	}
}

func (c *call) teardown() {
	c.stopResume()
	c.stopSilence()
	c.rate.Stop() // before Close: pion's GetStats races a closing PeerConnection
	if c.sig != nil {
		_ = c.sig.send(reqLeaveMsg(leaveMsg{Reason: ClientInitiated, Action: leaveDisconnect}))
		c.sig.Close()
	}
	for _, pc := range []*webrtc.PeerConnection{c.pub, c.sub} {
		if pc != nil {
			_ = pc.Close() // unbinds our tracks; they stay open for the next call
		}
	}
	c.sinkCancel()
	c.sinkMu.Lock()
	c.sinksClosed = true
	c.sinkMu.Unlock()
	c.sinks.Wait()
	c.result.Ended = c.d.cfg.Clock.Now()
}
