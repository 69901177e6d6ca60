package session

import (
	"github.com/kioskd/kioskd/rtc"

	"github.com/kioskd/kioskd/dpwire"

	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/session/signalling"
)

// Protocol errors (the cause inside a ConnectError).
var (
	ErrOutOfOrder = errors.New("session: server events out of order")
	ErrProtocol   = errors.New("session: protocol violation")
	ErrStepStuck  = errors.New("session: connection step took too long")
)

// maxPendingCandidates bounds candidates buffered before the answer, so a
// hostile server cannot grow our memory.
const maxPendingCandidates = 64

// CallConfig is what one call needs to know.
type CallConfig struct {
	URL            string
	Token          string // secret: sent in the Authorization header only
	Dial           signalling.DialConfig
	Heartbeat      time.Duration
	StepTimeout    time.Duration // deadline of each connection step
	ConnectTimeout time.Duration // deadline from dial to Connected
	Resume         string        // session id to resume, "" for a fresh one
	Client         dpwire.ClientInfo
}

// CallDeps are a call's collaborators.
type CallDeps struct {
	Dialect signalling.Dialect
	API     *webrtc.API
	Tracks  []*relay
	Sink    MediaSink    // nil: the DP's media is read and dropped
	Media   <-chan error // capture failures
	Clock   clock.Clock
	Log     *slog.Logger
	Peer    rtc.PeerOptions
	// OnState hears every state change, in order, from the call's goroutine.
	OnState func(st contract.ConnectionState)
	// OnSession hears the session id as soon as the server names it.
	OnSession func(id string, resumed bool)
	// OnQueue hears queue positions while searching.
	OnQueue func(pos int)
}

// CallResult says how a call ended.
type CallResult struct {
	// Err is set when the call failed before Connected.
	Err *contract.ConnectError
	// Reason is set when a Connected call ended.
	Reason contract.DisconnectReason
	// ByUs: kioskd ended it itself (shutdown), not the server.
	ByUs bool
	// MediaErr: after Connected, a failure of ours ended it (a capture
	// track, or ICE/DTLS) — mediaStreamFailed; the session stays resumable.
	MediaErr error
	// TakenOver: after Connected the server gave the session to another
	// connection (close noSessionToResume); forget it, start afresh.
	TakenOver bool
	SessionID string
	Resumed   bool
	Connected time.Time // zero if never Connected
	Ended     time.Time
}

// Call is one control connection and its PeerConnection, from the dial
// to the end. One goroutine owns all of its state; everything else talks to
// it through channels, so the state machine is never raced.
type Call struct {
	cfg  CallConfig
	deps CallDeps
	log  *slog.Logger

	connected chan struct{}
	done      chan struct{}
	closeReq  chan closeRequest
	pcEvents  chan pcEvent
	result    CallResult

	// Owned by run.
	state        contract.ConnectionState
	conn         signalling.Conn
	pc           *webrtc.PeerConnection
	sessionID    string
	resumed      bool
	ready        bool
	peerUp       bool
	offerSent    bool
	haveAnswer   bool
	pendingCands []webrtc.ICECandidateInit
	sinkCtx      context.Context
	sinkCancel   context.CancelFunc
	sinks        sync.WaitGroup
	sinkMu       sync.Mutex // orders sinks.Add in pion's OnTrack before teardown's Wait
	sinksClosed  bool
}

type closeRequest struct {
	reason string
}

type pcEvent struct {
	state     webrtc.PeerConnectionState
	candidate *webrtc.ICECandidate
	isCand    bool
}

// StartCall dials and runs a call until it ends. Cancelling ctx is a
// shutdown: the call sends close with reason normal and ends ByUs.
func StartCall(ctx context.Context, cfg CallConfig, deps CallDeps) *Call {
	if deps.Clock == nil {
		deps.Clock = clock.Real
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 20 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 60 * time.Second
	}
	c := &Call{
		cfg: cfg, deps: deps, log: deps.Log,
		connected: make(chan struct{}),
		done:      make(chan struct{}),
		closeReq:  make(chan closeRequest, 1),
		pcEvents:  make(chan pcEvent, 64),
	}
	c.sinkCtx, c.sinkCancel = context.WithCancel(context.Background())
	go c.run(ctx)
	return c
}

// Connected is closed once the call reaches Connected.
func (c *Call) Connected() <-chan struct{} { return c.connected }

// Done is closed when the call has ended and released everything.
func (c *Call) Done() <-chan struct{} { return c.done }

// Result is how the call ended; valid after Done.
func (c *Call) Result() CallResult {
	<-c.done
	return c.result
}

// Wait blocks until Connected (returning the session id) or the end of the
// call before Connected (returning a *ConnectError).
func (c *Call) Wait(ctx context.Context) (string, error) {
	select {
	case <-c.connected:
		return c.result.SessionID, nil
	case <-c.done:
		if c.result.Err != nil {
			return "", c.result.Err
		}
		return "", contract.NewConnectError(contract.ServerConnectionFailed, errors.New("call ended before Connected"))
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Close asks the call to end, telling the server reason (a SPEC 2 or 3
// name), and waits until it has.
func (c *Call) Close(reason string) {
	select {
	case c.closeReq <- closeRequest{reason: reason}:
	default:
	}
	<-c.done
}

func (c *Call) setState(st contract.ConnectionState) {
	if st == c.state {
		return // a state is reported once per change, never repeated
	}
	c.state = st
	if c.deps.OnState != nil {
		c.deps.OnState(st)
	}
}

func (c *Call) run(ctx context.Context) {
	defer close(c.done)
	defer c.teardown()

	dialCtx, cancel := context.WithTimeout(ctx, c.cfg.StepTimeout)
	dcfg := c.cfg.Dial
	dcfg.URL, dcfg.Token, dcfg.Heartbeat = c.cfg.URL, c.cfg.Token, c.cfg.Heartbeat
	conn, err := c.deps.Dialect.Dial(dialCtx, dcfg)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			c.endByUs()
			return
		}
		c.fail(contract.ServerConnectionFailed, err)
		return
	}
	c.conn = conn
	if !c.apply(inSocketOpen) {
		return
	}

	stepTimer := c.deps.Clock.NewTimer(c.cfg.StepTimeout)
	defer stepTimer.Stop()
	deadline := c.deps.Clock.NewTimer(c.cfg.ConnectTimeout)
	defer deadline.Stop()
	lastState := c.state

	for {
		if c.state != lastState {
			lastState = c.state
			if c.state == contract.Connected {
				stepTimer.Stop()
				deadline.Stop()
			} else {
				stepTimer.Reset(c.cfg.StepTimeout)
			}
		}
		select {
		case <-ctx.Done():
			c.sendClose(contract.ReasonNormal.String())
			c.endByUs()
			return
		case req := <-c.closeReq:
			c.sendClose(req.reason)
			c.endByUs()
			return
		case m, ok := <-conn.Incoming():
			if !ok {
				c.lost(conn.Err())
				return
			}
			if !c.handle(m) {
				return
			}
		case ev := <-c.pcEvents:
			if !c.handlePeer(ev) {
				return
			}
		case err := <-c.deps.Media:
			c.mediaFailed(err)
			return
		case <-stepTimer.C():
			if c.state != contract.Connected {
				c.sendClose(contract.SessionTimeout.String())
				c.fail(contract.SessionTimeout, fmt.Errorf("%w: %s for more than %s", ErrStepStuck, c.state, c.cfg.StepTimeout))
				return
			}
		case <-deadline.C():
			if c.state != contract.Connected {
				c.sendClose(contract.SessionTimeout.String())
				c.fail(contract.SessionTimeout, fmt.Errorf("not Connected within %s (stuck in %s)", c.cfg.ConnectTimeout, c.state))
				return
			}
		}
	}
}

// apply feeds an input to the state table and runs the action. It returns
// false when the call has ended.
func (c *Call) apply(in input) bool {
	t, err := step(c.state, in)
	if err != nil {
		// Out of order: ignored (see transitions); the deadlines still run.
		c.log.Warn("ignoring an out-of-order server event", "error", err)
		return true
	}
	switch t.act {
	case actSendHello:
		c.setState(t.next)
		if err := c.conn.Send(dpwire.Hello{Resume: c.cfg.Resume, Client: c.cfg.Client}); err != nil {
			c.lost(err)
			return false
		}
		return true
	case actOffer:
		c.setState(t.next)
		sdp, err := c.offer()
		if err != nil {
			c.sendClose(contract.MediaStreamFailed.String())
			c.fail(contract.MediaStreamFailed, err)
			return false
		}
		// A send that fails means the control socket is gone, not the
		// media: serverConnectionFailed, as for the hello.
		if err := c.conn.Send(dpwire.Offer{SDP: sdp}); err != nil {
			c.lost(err)
			return false
		}
		c.offerSent = true
		return true
	case actMarkReady:
		c.ready = true
	case actMarkPeer:
		c.peerUp = true
	}
	c.setState(t.next)
	if c.state == contract.ConnectingToDigitalPerson && c.ready && c.peerUp {
		c.result.Connected = c.deps.Clock.Now()
		c.setState(contract.Connected)
		close(c.connected)
	}
	return true
}

func (c *Call) handle(m dpwire.Message) bool {
	switch v := m.(type) {
	case dpwire.Session:
		if c.sessionID != "" {
			return c.violation(fmt.Errorf("%w: a second session message", ErrProtocol))
		}
		c.sessionID = v.SessionID
		c.resumed = v.Resumed && v.SessionID == c.cfg.Resume
		c.result.SessionID, c.result.Resumed = c.sessionID, c.resumed
		if v.HeartbeatMS > 0 {
			c.conn.SetHeartbeat(time.Duration(v.HeartbeatMS) * time.Millisecond)
		}
		if c.deps.OnSession != nil {
			c.deps.OnSession(c.sessionID, c.resumed)
		}
		return true
	case dpwire.Progress:
		if c.sessionID == "" {
			return c.violation(fmt.Errorf("%w: progress before the session id", ErrOutOfOrder))
		}
		st, _ := contract.ParseConnectionState(v.State)
		in := map[contract.ConnectionState]input{
			contract.SearchingForDigitalPerson: inSearching,
			contract.DownloadingAssets:         inAssets,
			contract.ConnectingToDigitalPerson: inStarting,
		}[st]
		if in == inSearching && c.deps.OnQueue != nil {
			c.deps.OnQueue(v.QueuePosition)
		}
		return c.apply(in)
	case dpwire.Answer:
		if !c.offerSent || c.haveAnswer {
			c.log.Warn("ignoring an answer without an offer pending", "error", ErrOutOfOrder)
			return true
		}
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.SDP}); err != nil {
			c.sendClose(contract.MediaStreamFailed.String())
			return c.fail(contract.MediaStreamFailed, fmt.Errorf("server's answer: %w", err))
		}
		c.haveAnswer = true
		for _, cand := range c.pendingCands {
			c.addCandidate(cand)
		}
		c.pendingCands = nil
		return true
	case dpwire.Candidate:
		if v.End {
			return true // pion needs no end marker; gathering ends by itself
		}
		cand := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
		if !c.haveAnswer {
			if len(c.pendingCands) >= maxPendingCandidates {
				return c.violation(fmt.Errorf("%w: more than %d candidates before the answer", ErrProtocol, maxPendingCandidates))
			}
			c.pendingCands = append(c.pendingCands, cand)
			return true
		}
		c.addCandidate(cand)
		return true
	case dpwire.Ready:
		if c.sessionID == "" {
			return c.violation(fmt.Errorf("%w: ready before the session id", ErrOutOfOrder))
		}
		return c.apply(inReady)
	case dpwire.Close:
		return c.serverClosed(v)
	default:
		return c.violation(fmt.Errorf("%w: %s is not a server message", ErrProtocol, m.MessageType()))
	}
}

func (c *Call) addCandidate(cand webrtc.ICECandidateInit) {
	if err := c.pc.AddICECandidate(cand); err != nil {
		// One bad candidate is the server's problem, not a reason to drop the call.
		c.log.Warn("ignoring a remote ICE candidate", "error", err)
	}
}

// serverClosed maps the server's close reason onto SPEC sections 2 and 3.
func (c *Call) serverClosed(v dpwire.Close) bool {
	if c.state != contract.Connected {
		name, ok := contract.ParseErrorName(v.Reason)
		if !ok {
			// A disconnect reason (or an unknown word) before Connected: the
			// control socket was lost before Connected.
			name = contract.ServerConnectionFailed
		}
		msg := "server closed with " + v.Reason
		if v.Message != "" {
			msg += ": " + v.Message
		}
		return c.fail(name, errors.New(msg))
	}
	if v.Reason == contract.NoSessionToResume.String() {
		// Another connection took the session over (a copied state file, a
		// half-open socket after a reboot): it is no longer ours to resume.
		c.log.Warn("the server gave the session to another connection; starting a fresh one", "reason", v.Reason, "message", v.Message)
		c.result.Reason = contract.ReasonControlDisconnected
		c.result.TakenOver = true
		return false
	}
	reason, ok := contract.ParseDisconnectReason(v.Reason)
	if !ok {
		c.log.Warn("server closed with an unknown reason; treating it as controlDisconnected", "reason", v.Reason)
		reason = contract.ReasonControlDisconnected
	}
	c.result.Reason = reason
	return false
}

func (c *Call) handlePeer(ev pcEvent) bool {
	if ev.isCand {
		if ev.candidate == nil {
			_ = c.conn.Send(dpwire.Candidate{End: true})
			return true
		}
		j := ev.candidate.ToJSON()
		_ = c.conn.Send(dpwire.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex})
		return true
	}
	switch ev.state {
	case webrtc.PeerConnectionStateConnected:
		if c.state == contract.ConnectingToDigitalPerson || c.state == contract.Connected {
			return c.apply(inPeerConnected)
		}
	case webrtc.PeerConnectionStateFailed:
		err := errors.New("WebRTC (ICE/DTLS) failed")
		c.sendClose(contract.MediaStreamFailed.String())
		if c.state == contract.Connected {
			c.result.MediaErr = err
			return false
		}
		return c.fail(contract.MediaStreamFailed, err)
	}
	return true
}

// offer builds the PeerConnection and returns the offer to send.
func (c *Call) offer() (string, error) {
	pc, err := c.deps.API.NewPeerConnection(webrtc.Configuration{ICEServers: c.deps.Peer.ICEServers})
	if err != nil {
		return "", err
	}
	c.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.peerEvent(pcEvent{candidate: cand, isCand: true}) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { c.peerEvent(pcEvent{state: st}) })
	pc.OnTrack(func(tr *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
		// pion may call this from its own goroutine after teardown has
		// closed the PeerConnection and is waiting for the sinks: an Add
		// racing that Wait is a WaitGroup misuse. Late tracks are dropped.
		c.sinkMu.Lock()
		if c.sinksClosed {
			c.sinkMu.Unlock()
			return
		}
		c.sinks.Add(1)
		c.sinkMu.Unlock()
		defer c.sinks.Done()
		if c.deps.Sink != nil {
			c.deps.Sink.HandleTrack(c.sinkCtx, tr, rcv)
			return
		}
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	kinds := map[webrtc.RTPCodecType]bool{}
	for _, r := range c.deps.Tracks {
		tr, err := pc.AddTransceiverFromTrack(r.static, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			return "", fmt.Errorf("add %s track: %w", r.static.Kind(), err)
		}
		kinds[r.static.Kind()] = true
		c.sinks.Add(1)
		go c.readRTCP(tr.Sender(), r)
	}
	// Receive the DP's voice and face even when we send nothing of a kind.
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if !kinds[k] {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return "", err
			}
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	return offer.SDP, nil
}

// readRTCP drains a sender's RTCP (the interceptors need it read) and
// passes keyframe requests to the encoder. It ends with the PeerConnection.
func (c *Call) readRTCP(sender *webrtc.RTPSender, r *relay) {
	defer c.sinks.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				r.requestKeyFrame()
			}
		}
	}
}

// peerEvent hands a pion callback to the run goroutine; after the call has
// ended it is dropped instead of blocking pion.
func (c *Call) peerEvent(ev pcEvent) {
	select {
	case c.pcEvents <- ev:
	case <-c.done:
	}
}

func (c *Call) mediaFailed(err error) {
	c.sendClose(contract.MediaStreamFailed.String())
	if c.state == contract.Connected {
		c.result.MediaErr = err
		return
	}
	c.fail(contract.MediaStreamFailed, err)
}

// lost: the control socket went away without a close message.
func (c *Call) lost(err error) {
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if c.state == contract.Connected {
		c.log.Info("control socket lost", "error", err)
		c.result.Reason = contract.ReasonControlDisconnected
		return
	}
	c.fail(contract.ServerConnectionFailed, err)
}

// violation ends the call because the server broke the protocol. Before
// Connected that is serverConnectionFailed; after it the control channel is
// as good as lost (controlDisconnected: resume).
func (c *Call) violation(err error) bool {
	c.log.Warn("server broke the protocol; closing the control socket", "error", err)
	if c.state == contract.Connected {
		c.sendClose(contract.ReasonControlDisconnected.String())
		c.result.Reason = contract.ReasonControlDisconnected
		return false
	}
	c.sendClose(contract.ServerConnectionFailed.String())
	return c.fail(contract.ServerConnectionFailed, err)
}

// fail ends the call before Connected with name. It returns false so
// handlers can `return c.fail(...)`.
func (c *Call) fail(name contract.ErrorName, cause error) bool {
	if c.state == contract.Connected {
		// Only reachable through media; callers handle Connected themselves.
		c.result.MediaErr = cause
		return false
	}
	c.result.Err = contract.NewConnectError(name, cause)
	return false
}

func (c *Call) endByUs() {
	c.result.ByUs = true
	if c.state == contract.Connected {
		c.result.Reason = contract.ReasonNormal
	} else if c.result.Err == nil {
		c.result.Reason = contract.ReasonNormal
	}
}

func (c *Call) sendClose(reason string) {
	if c.conn != nil {
		_ = c.conn.Send(dpwire.Close{Reason: reason})
	}
}

func (c *Call) teardown() {
	if c.pc != nil {
		_ = c.pc.Close() // unbinds our tracks; they stay open for the next call
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.sinkCancel()
	c.sinkMu.Lock()
	c.sinksClosed = true
	c.sinkMu.Unlock()
	c.sinks.Wait()
	c.result.Ended = c.deps.Clock.Now()
	c.setState(contract.Disconnected)
}
