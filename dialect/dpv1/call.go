package dpv1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/clock"
)

// Protocol errors (the cause inside a ConnectError). Their text is what it
// was before the package moved: it reaches the journal.
var (
	ErrOutOfOrder = errors.New("session: server events out of order")
	ErrProtocol   = errors.New("session: protocol violation")
)

// call is one control connection and its PeerConnection, from the dial
// to the end. One goroutine owns all of its state; everything else talks to
// it through channels, so the state machine is never raced.
type call struct {
	d   *Dialect
	a   dialect.Attempt
	log *slog.Logger

	done     chan struct{}
	aborts   chan abort
	pcEvents chan pcEvent
	result   dialect.Result

	// Owned by run.
	state        contract.ConnectionState
	conn         Conn
	pc           *webrtc.PeerConnection
	sessionID    string
	resumed      bool
	ready        bool
	peerUp       bool
	offerSent    bool
	haveAnswer   bool
	remoteCands  int // the server's candidates so far (end marker not counted)
	pendingCands []webrtc.ICECandidateInit
	queuePos     int // the queue position last reported; -1: none yet
	// serverICE are the ICE servers the server handed in ice_servers
	// (docs/PROTOCOL.md section 4.11), used with the configured ones.
	serverICE []dpwire.ICEServer

	// ICE restarts (restart.go). restartReq is fed by
	// Dialect.NetworkChanged and read by run; the rest is run's.
	restartReq   chan string
	restarting   bool // an ice_restart is out; the media not back yet
	restartAgain bool // the network changed again during it
	restarts     int  // restarts on this connection, for the log
	restartStart time.Time
	restartTimer clock.Timer // the running restart's deadline; nil: none

	// Out-of-order server events (docs/PROTOCOL.md section 12.3), ignored:
	// the first of each kind logged, all of them counted, so that a server
	// repeating one cannot flood the log.
	outOfOrder kindLog

	// rate is the PeerConnection's congestion control (nil before offer).
	rate *dialect.RateControl
	// conv is the DP's conversation state as last reported (conversation.go).
	conv contract.ConversationState

	sinkCtx     context.Context
	sinkCancel  context.CancelFunc
	sinks       sync.WaitGroup
	sinkMu      sync.Mutex // orders sinks.Add in pion's OnTrack before teardown's Wait
	sinksClosed bool

	// Frames of unknown type (docs/PROTOCOL.md section 12.2), reported by
	// the connection's read goroutine: each type logged once, up to
	// maxUnknownTypesLogged types, and all of them counted.
	unknown kindLog
}

// maxUnknownTypesLogged bounds the lines a server's frames of unknown type
// get on one connection, however many types it invents.
const maxUnknownTypesLogged = 8

// abort is the supervisor's request to end the call before Connected.
type abort struct {
	name  contract.ErrorName
	cause error
}

type pcEvent struct {
	state     webrtc.PeerConnectionState
	ice       webrtc.ICEConnectionState // isICE: pion's ICE connection state
	isICE     bool
	candidate *webrtc.ICECandidate
	isCand    bool
}

func newCall(d *Dialect, a dialect.Attempt) *call {
	c := &call{
		d: d, a: a, log: a.Log,
		done:       make(chan struct{}),
		aborts:     make(chan abort, 1),
		pcEvents:   make(chan pcEvent, 64),
		restartReq: make(chan string, 1),
		queuePos:   -1,
		unknown:    kindLog{max: maxUnknownTypesLogged},
	}
	c.sinkCtx, c.sinkCancel = context.WithCancel(context.Background())
	return c
}

// Done is closed when the call has ended and released everything.
func (c *call) Done() <-chan struct{} { return c.done }

// Result is how the call ended; it waits for Done.
func (c *call) Result() dialect.Result {
	<-c.done
	return c.result
}

// Abort asks the call to end before Connected, telling the server name
// (see dialect.Call). One pending request is as good as many.
func (c *call) Abort(name contract.ErrorName, cause error) {
	select {
	case c.aborts <- abort{name, cause}:
	default:
	}
}

func (c *call) setState(st contract.ConnectionState) {
	if st == c.state {
		return // a state is reported once per change, never repeated
	}
	c.state = st
	if st != contract.Disconnected {
		c.a.Report.State(st) // the supervisor reports Disconnected with how the call ended
	}
}

func (c *call) run(ctx context.Context) {
	defer close(c.done)
	defer c.teardown()
	c.d.addCall(c)
	defer c.d.removeCall(c)

	conn, ok := c.dial(ctx)
	if !ok {
		return
	}
	c.conn = conn
	if !c.apply(inSocketOpen) {
		return
	}
	for {
		select {
		case <-ctx.Done():
			c.sendClose(contract.ReasonNormal.String())
			c.endByUs()
			return
		case ab := <-c.aborts:
			if c.state == contract.Connected {
				c.log.Debug("ignoring an abort that came after Connected", "error_name", ab.name.String(), "error", ab.cause)
				continue
			}
			c.sendClose(ab.name.String())
			c.fail(ab.name, ab.cause)
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
		case err := <-c.a.Media.Failed():
			c.mediaFailed(err)
			return
		case why := <-c.restartReq:
			if !c.restartICE(why) {
				return
			}
		case <-c.restartDeadline():
			c.restartTimer = nil
			c.restartFailed(fmt.Errorf("%w: media not back within %s", ErrICERestart, c.restartTimeout()))
			return
		}
	}
}

// dial opens the control channel. The supervisor's deadline (an Abort)
// or a shutdown (ctx) cuts it short. It returns false when the call has
// ended.
func (c *call) dial(ctx context.Context) (Conn, bool) {
	type dialed struct {
		conn Conn
		err  error
	}
	dialCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan dialed, 1)
	go func() {
		conn, err := c.d.ws.Dial(dialCtx, DialConfig{
			URL: c.d.cfg.URL, Token: c.d.cfg.Token, TLS: c.d.cfg.TLS,
			Heartbeat: c.d.cfg.Heartbeat, UserAgent: c.d.cfg.UserAgent,
			OnIgnored: c.ignored, BuildTime: c.d.cfg.BuildTime, KioskID: c.d.cfg.Client.KioskID,
		})
		ch <- dialed{conn, err}
	}()
	var r dialed
	select {
	case r = <-ch:
	case ab := <-c.aborts:
		cancel()
		if r = <-ch; r.conn != nil {
			c.conn = r.conn // answered in the same instant: tell it, teardown closes it
			c.sendClose(ab.name.String())
		}
		c.fail(ab.name, ab.cause)
		return nil, false
	}
	if r.err != nil {
		if ctx.Err() != nil {
			c.endByUs()
			return nil, false
		}
		c.fail(contract.ServerConnectionFailed, r.err)
		return nil, false
	}
	return r.conn, true
}

// apply feeds an input to the state table and runs the action. It returns
// false when the call has ended.
func (c *call) apply(in input) bool {
	t, err := step(c.state, in)
	if err != nil {
		// Out of order: ignored (see transitions); the deadlines still run.
		c.ignoreOutOfOrder(err.Error(), "ignoring an out-of-order server event", err)
		return true
	}
	switch t.act {
	case actSendHello:
		c.setState(t.next)
		if err := c.conn.Send(dpwire.Hello{Resume: c.a.Resume, Client: c.d.cfg.Client}); err != nil {
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
		c.result.Connected = c.d.cfg.Clock.Now()
		c.setState(contract.Connected)
		if pair := selectedPair(c.pc); pair != "" {
			c.log.Info("media path", "ice_candidate_pair", pair)
		}
	}
	return true
}

func (c *call) handle(m dpwire.Message) bool {
	switch v := m.(type) {
	case dpwire.Session:
		if c.sessionID != "" {
			return c.violation(fmt.Errorf("%w: a second session message", ErrProtocol))
		}
		c.sessionID = v.SessionID
		c.resumed = v.Resumed && v.SessionID == c.a.Resume
		c.result.SessionID, c.result.Resumed = c.sessionID, c.resumed
		if v.HeartbeatMS > 0 {
			c.conn.SetHeartbeat(time.Duration(v.HeartbeatMS) * time.Millisecond)
		}
		c.a.Report.Session(c.sessionID, c.resumed)
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
		if in == inSearching && c.state == contract.SearchingForDigitalPerson && v.QueuePosition != c.queuePos {
			// A new position while searching (docs/PROTOCOL.md section 7);
			// a late progress naming an earlier step is not acted upon
			// (section 12.3), and the same position again is no news.
			c.queuePos = v.QueuePosition
			c.a.Report.Queue(v.QueuePosition)
		}
		return c.apply(in)
	case dpwire.Answer:
		if !c.offerSent || c.haveAnswer {
			c.ignoreOutOfOrder("answer", "ignoring an answer without an offer pending", ErrOutOfOrder)
			return true
		}
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.SDP}); err != nil {
			if c.restarting {
				return c.restartFailed(fmt.Errorf("%w: the server's answer: %v", ErrICERestart, err))
			}
			c.sendClose(contract.MediaStreamFailed.String())
			return c.fail(contract.MediaStreamFailed, fmt.Errorf("server's answer: %w", err))
		}
		c.haveAnswer = true
		for _, cand := range c.pendingCands {
			c.addCandidate(cand)
		}
		c.pendingCands = nil
		if c.restarting {
			return c.restartAnswered()
		}
		return true
	case dpwire.Candidate:
		if v.End {
			return true // pion needs no end marker; gathering ends by itself
		}
		// At most dpwire.MaxCandidates per connection, buffered before the
		// answer or applied after it: each one applied costs pion a
		// goroutine and a candidate pair per local candidate, so a flood
		// would grow our memory and goroutines without bound.
		c.remoteCands++
		if c.remoteCands > dpwire.MaxCandidates {
			return c.violation(fmt.Errorf("%w: more than %d candidates from the server", ErrProtocol, dpwire.MaxCandidates))
		}
		cand := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
		if !c.haveAnswer {
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
	case dpwire.ICEServers:
		switch {
		case c.sessionID == "":
			return c.violation(fmt.Errorf("%w: ice_servers before the session id", ErrOutOfOrder))
		case c.pc != nil || c.serverICE != nil:
			c.ignoreOutOfOrder("ice_servers", "ignoring ice_servers after the offer or a second one", ErrOutOfOrder)
			return true
		}
		c.serverICE = v.Servers
		var urls []string
		for _, s := range v.Servers {
			urls = append(urls, s.URLs...)
		}
		c.log.Info("the server handed ICE servers", "ice_urls", strings.Join(urls, " "))
		return true
	case dpwire.ConversationState:
		return c.conversation(v)
	case dpwire.Close:
		return c.serverClosed(v)
	default:
		return c.violation(fmt.Errorf("%w: %s is not a server message", ErrProtocol, m.MessageType()))
	}
}

// ignored hears a frame the connection ignored: a message of a type this
// version does not define, which a newer server may send (docs/PROTOCOL.md
// sections 2.2 and 12.2). The first of each type is logged; teardown
// counts them all.
func (c *call) ignored(err error) {
	typ := "?"
	var ut *dpwire.UnknownTypeError
	if errors.As(err, &ut) {
		typ = ut.Type
	}
	if c.unknown.first(typ) {
		c.log.Info("ignoring a server message of unknown type (logged once per type)", "type", typ)
	}
}

// ignoreOutOfOrder logs an ignored out-of-order event the first time its
// kind comes on this connection, and counts it; teardown says how many
// there were in all.
func (c *call) ignoreOutOfOrder(kind, msg string, err error) {
	if c.outOfOrder.first(kind) {
		c.log.Warn(msg+" (logged once per kind)", "error", err)
	}
}

func (c *call) addCandidate(cand webrtc.ICECandidateInit) {
	if err := c.pc.AddICECandidate(cand); err != nil {
		// One bad candidate is the server's problem, not a reason to drop the call.
		c.log.Warn("ignoring a remote ICE candidate", "error", err)
	}
}

// serverClosed maps the server's close reason onto docs/BEHAVIOUR.md
// sections 2 and 3.
func (c *call) serverClosed(v dpwire.Close) bool {
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
		if why := c.forbiddenClose(name); why != "" {
			// The server broke the protocol (docs/PROTOCOL.md section
			// 10.1): serverConnectionFailed, retried with backoff, whatever
			// reaction the name would have had.
			c.log.Warn("server closed with a reason it may not send here; treating it as serverConnectionFailed",
				"reason", v.Reason, "why", why, "message", v.Message)
			return c.fail(contract.ServerConnectionFailed, fmt.Errorf("%w: %s (%s)", ErrProtocol, msg, why))
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

// forbiddenClose says why a server may not close with name before
// Connected ("" if it may). noUserMedia and notSupported are the kiosk's
// own errors, about its own devices: taken from a server, notSupported
// would park the kiosk until its devices change, and noUserMedia would
// blame them on its LEDs. noSessionToResume refuses a resume, so it
// answers only a hello that asked for one; a server that refuses a fresh
// hello with it would make the kiosk drop nothing and dial again at once,
// for ever.
func (c *call) forbiddenClose(name contract.ErrorName) string {
	switch {
	case name == contract.NoUserMedia, name == contract.NotSupported:
		return "only the client may send this reason"
	case name == contract.NoSessionToResume && c.a.Resume == "":
		return "the hello resumed no session"
	}
	return ""
}

func (c *call) handlePeer(ev pcEvent) bool {
	if ev.isICE {
		// Only an ICE restart waits on it: pion may keep the
		// PeerConnection's state at connected throughout one.
		if c.restarting && ev.ice == webrtc.ICEConnectionStateConnected {
			return c.restartDone()
		}
		return true
	}
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
		if c.restarting {
			return c.restartDone()
		}
		if c.state == contract.ConnectingToDigitalPerson || c.state == contract.Connected {
			return c.apply(inPeerConnected)
		}
	case webrtc.PeerConnectionStateDisconnected:
		// The media path went quiet while the control socket is alive
		// (pion's ICE disconnected timeout): an outage, or a network
		// change the watcher did not see. A restart finds a path that
		// works, if there is one, sooner than pion's failed timeout.
		if c.state == contract.Connected && !c.restarting && c.pc.ConnectionState() == webrtc.PeerConnectionStateDisconnected {
			return c.restartICE("ICE disconnected")
		}
	case webrtc.PeerConnectionStateFailed:
		if c.restarting {
			return c.restartFailed(fmt.Errorf("%w: the PeerConnection failed", ErrICERestart))
		}
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
func (c *call) offer() (string, error) {
	pc, est, err := c.d.api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         iceServers(c.d.cfg.Peer.ICEServers, c.serverICE),
		ICETransportPolicy: c.d.cfg.Peer.TransportPolicy(),
	})
	if err != nil {
		return "", err
	}
	c.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.peerEvent(pcEvent{candidate: cand, isCand: true}) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { c.peerEvent(pcEvent{state: st}) })
	pc.OnICEConnectionStateChange(func(st webrtc.ICEConnectionState) { c.peerEvent(pcEvent{ice: st, isICE: true}) })
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
		c.a.Media.HandleTrack(c.sinkCtx, tr, rcv)
	})
	kinds := map[webrtc.RTPCodecType]bool{}
	for _, t := range c.a.Media.Send() {
		tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			return "", fmt.Errorf("add %s track: %w", t.Kind(), err)
		}
		kinds[t.Kind()] = true
		c.sinks.Add(1)
		go c.readRTCP(tr.Sender(), t)
	}
	c.rate = dialect.StartRateControl(pc, est, c.a.Media.Send(), c.log)
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

// peerEvent hands a pion callback to the run goroutine; after the call has
// ended it is dropped instead of blocking pion.
func (c *call) peerEvent(ev pcEvent) {
	select {
	case c.pcEvents <- ev:
	case <-c.done:
	}
}

func (c *call) mediaFailed(err error) {
	c.sendClose(contract.MediaStreamFailed.String())
	if c.state == contract.Connected {
		c.result.MediaErr = err
		return
	}
	c.fail(contract.MediaStreamFailed, err)
}

// lost: the control socket went away without a close message.
func (c *call) lost(err error) {
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
func (c *call) violation(err error) bool {
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
func (c *call) fail(name contract.ErrorName, cause error) bool {
	if c.state == contract.Connected {
		// Only reachable through media; callers handle Connected themselves.
		c.result.MediaErr = cause
		return false
	}
	c.result.Err = contract.NewConnectErrorDetail(name, detailOf(name, cause), cause)
	return false
}

// detailOf narrows a failure down (contract.ErrorDetail): a token refused
// at the upgrade (HTTP 401 or 403) is serverConnectionFailed like any
// failed dial, but staff must call support, not check the cable; a
// certificate not valid yet at a clock before the build date
// (ClockError) is the kiosk's clock, not the network.
func detailOf(name contract.ErrorName, cause error) contract.ErrorDetail {
	if name != contract.ServerConnectionFailed {
		return contract.NoDetail
	}
	if errors.Is(cause, ErrUnauthorized) {
		return contract.DetailUnauthorized
	}
	var ce *ClockError
	if errors.As(cause, &ce) {
		return ce.Detail()
	}
	return contract.NoDetail
}

func (c *call) endByUs() {
	c.result.ByUs = true
	if c.state == contract.Connected {
		c.result.Reason = contract.ReasonNormal
	} else if c.result.Err == nil {
		c.result.Reason = contract.ReasonNormal
	}
}

func (c *call) sendClose(reason string) {
	if c.conn != nil {
		_ = c.conn.Send(dpwire.Close{Reason: reason})
	}
}

func (c *call) teardown() {
	c.stopRestartTimer()
	c.rate.Stop() // before Close: pion's GetStats races a closing PeerConnection
	if c.pc != nil {
		_ = c.pc.Close() // unbinds our tracks; they stay open for the next call
	}
	if c.conn != nil {
		_ = c.conn.Close() // the read goroutine has ended: no more ignored frames
		if n, kinds, some := c.unknown.unlogged(); some {
			c.log.Info("server messages of unknown type ignored on this connection", "frames", n, "types_logged", kinds)
		}
	}
	if n, kinds, some := c.outOfOrder.unlogged(); some {
		c.log.Info("out-of-order server events ignored on this connection", "events", n, "kinds_logged", kinds)
	}
	c.sinkCancel()
	c.sinkMu.Lock()
	c.sinksClosed = true
	c.sinkMu.Unlock()
	c.sinks.Wait()
	c.result.Ended = c.d.cfg.Clock.Now()
	t, _ := step(c.state, inFailed) // Disconnected, from every state
	c.setState(t.next)
}
