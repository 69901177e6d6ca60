package dpsim

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dpwire"
)

// helloTimeout bounds the wait for the client's first message
// (docs/PROTOCOL.md section 12.4).
const helloTimeout = 10 * time.Second

type cmdKind int

const (
	cmdClose cmdKind = iota + 1
	cmdDrop
	cmdTakeover
	cmdConversation // SetConversationState: reason is the state
)

// command is what the rest of the server asks of a connection.
type command struct {
	kind            cmdKind
	reason, message string
}

// What pion and the timers post to the loop.
type (
	evCandidate struct {
		pc   *webrtc.PeerConnection
		cand *webrtc.ICECandidate // nil: gathering complete
	}
	evPCState struct{ pc *webrtc.PeerConnection }
	evTimer   struct {
		t   timer
		gen uint64
	}
)

// timer is one of a connection's deadlines and scripted delays; each fires
// one input.
type timer int

const (
	tHello   timer = iota // inHelloTimeout
	tStep                 // the step's delay: inStepDone (or what the scenario makes of it, conn.stepDone)
	tDP                   // the DP's start-up: inDPStarted
	tMedia                // inMediaTimeout
	tConnect              // inConnectTimeout
	tIdle                 // inIdleTimeout
	tDrop                 // inDropTimer
	tSilence              // inSilenceTimer
	numTimers
)

var timerInput = [numTimers]input{
	tHello: inHelloTimeout, tStep: inStepDone, tDP: inDPStarted, tMedia: inMediaTimeout,
	tConnect: inConnectTimeout, tIdle: inIdleTimeout, tDrop: inDropTimer, tSilence: inSilenceTimer,
}

// event is an input with what came with it.
type event struct {
	in     input
	msg    dpwire.Message       // from the client
	cmd    command              // inAdminClose
	cand   *webrtc.ICECandidate // inLocalCandidate; nil: gathering complete
	detail string               // inResumeRefused, inOfferUnusable: why (inResumeRefused has the hello in msg)
}

// plan is what the scenario holds for this connection, decided once the
// hello has been read (iceFailure: once the offer has).
type plan struct {
	resumed       bool // the hello resumed a session: no queue, no step delays
	noScene       bool
	controlFailed bool
	iceFailure    bool
	hostile       map[HostileMode]bool
}

// conn is one control connection: the session's steps, its PeerConnection
// and the accounting of its media. Its state moves by the table (table.go)
// in the one goroutine of serve, which alone touches the fields below
// mediaMu's; the rest of the server talks to it through cmds, pion and the
// timers through events.
type conn struct {
	srv *Server
	cc  *ctrlConn
	log *slog.Logger
	// kioskID is the upgrade's dpwire.KioskIDHeader, checked; "" if none.
	kioskID string

	cmds   chan command
	acks   chan bool
	events chan any
	quit   chan struct{} // the loop has stopped; posts are dropped

	sess *session // set once at attach, under srv.mu

	state      state
	plan       plan
	queue      int    // the queue position last sent; 0: not queued
	sentReason string // the reason of the close the server sent, if any
	timers     [numTimers]*time.Timer
	gen        [numTimers]uint64 // a fired timer whose generation is past is stale

	pc          *webrtc.PeerConnection
	out         []*dpTrack // the DP's tracks
	clientCands int        // the client's candidates so far (end marker not counted)

	mediaMu     sync.Mutex
	mediaClosed bool
	mediaWG     sync.WaitGroup
}

func (s *Server) newConn(ws *websocket.Conn, remote, kioskID string) *conn {
	log := s.log.With("remote", remote)
	c := &conn{
		kioskID: kioskID,
		srv:     s,
		cc:      newCtrlConn(ws, s.cfg.Heartbeat, log),
		log:     log,
		cmds:    make(chan command),
		acks:    make(chan bool),
		events:  make(chan any, 64),
		quit:    make(chan struct{}),
		state:   stAwaitingHello,
		plan:    plan{hostile: map[HostileMode]bool{}},
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.cc.Drop()
		c.cc.Wait()
		return nil
	}
	s.conns[c] = struct{}{}
	s.notifyLocked()
	s.mu.Unlock()
	return c
}

// do hands cmd to the loop; false if the loop has already stopped.
func (c *conn) do(cmd command) bool {
	select {
	case c.cmds <- cmd:
	case <-c.quit:
		return false
	}
	select {
	case ok := <-c.acks:
		return ok
	case <-c.quit:
	}
	return true
}

func (c *conn) post(ev any) {
	select {
	case c.events <- ev:
	case <-c.quit:
	}
}

// arm (re)starts t; a firing of its previous arming is stale.
func (c *conn) arm(t timer, d time.Duration) {
	c.disarm(t)
	gen := c.gen[t]
	c.timers[t] = time.AfterFunc(d, func() { c.post(evTimer{t, gen}) })
}

func (c *conn) disarm(t timer) {
	if c.timers[t] != nil {
		c.timers[t].Stop()
		c.timers[t] = nil
	}
	c.gen[t]++
}

func (c *conn) send(m dpwire.Message) {
	if err := c.cc.Send(m); err != nil {
		c.log.Debug("send failed", "type", m.MessageType(), "err", err)
	}
}

func (c *conn) strike(n Count, counter *int) bool {
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	return take(n, counter)
}

func (c *conn) setState(st string) {
	s := c.srv
	s.mu.Lock()
	if c.sess != nil && c.sess.conn == c {
		c.sess.state = st
		if st == StateConnected {
			c.sess.everConnected = true
			c.sess.connects++
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
}

func (c *conn) serve() {
	defer c.finish()
	c.arm(tHello, helloTimeout)
	for c.state != stClosed {
		select {
		case m, ok := <-c.cc.Incoming():
			if ok {
				c.feed(fromClient(m))
			} else {
				c.feed(event{in: inSocketLost})
			}
		case ev := <-c.events:
			if e, ok := c.fromEvent(ev); ok {
				c.feed(e)
			}
		case cmd := <-c.cmds:
			if cmd.kind == cmdConversation {
				c.acks <- c.conversation(cmd.reason)
				continue
			}
			c.feed(fromCommand(cmd))
			c.acks <- true
		case <-c.srv.ctx.Done():
			c.feed(event{in: inShutdown})
		}
	}
}

func fromClient(m dpwire.Message) event {
	in := inServerMessage
	switch m.(type) {
	case dpwire.Hello:
		in = inHello
	case dpwire.Offer:
		in = inOffer
	case dpwire.ICERestart:
		in = inICERestart
	case dpwire.Candidate:
		in = inCandidate
	case dpwire.Close:
		in = inClientClose
	}
	return event{in: in, msg: m}
}

func fromCommand(cmd command) event {
	switch cmd.kind {
	case cmdClose:
		return event{in: inAdminClose, cmd: cmd}
	case cmdTakeover:
		return event{in: inTakeover, cmd: cmd}
	}
	return event{in: inAdminDrop, cmd: cmd}
}

// fromEvent turns what pion and the timers posted into an input; false if
// it is stale (an earlier PeerConnection's, a disarmed timer's) or says
// nothing new.
func (c *conn) fromEvent(ev any) (event, bool) {
	switch e := ev.(type) {
	case evTimer:
		if e.gen != c.gen[e.t] {
			return event{}, false
		}
		c.timers[e.t] = nil
		if e.t == tStep {
			return event{in: c.stepDone()}, true
		}
		return event{in: timerInput[e.t]}, true
	case evCandidate:
		if e.pc != c.pc {
			return event{}, false
		}
		return event{in: inLocalCandidate, cand: e.cand}, true
	case evPCState:
		if e.pc != c.pc {
			return event{}, false
		}
		// pion calls the handler in a goroutine per change, so changes
		// may come out of order: act on the current state.
		switch e.pc.ConnectionState() {
		case webrtc.PeerConnectionStateConnected:
			return event{in: inPeerConnected}, true
		case webrtc.PeerConnectionStateFailed:
			return event{in: inPeerFailed}, true
		case webrtc.PeerConnectionStateDisconnected:
			return event{in: inPeerDisconnected}, true
		}
	}
	return event{}, false
}

// stepDone is what the end of the step's delay means, by the scenario.
func (c *conn) stepDone() input {
	switch c.state {
	case stSearching:
		switch {
		case c.queue > 1:
			return inQueueMoved
		case c.queue == 1:
			return inQueueFront
		case c.plan.noScene:
			return inNoScene
		}
	case stAssets:
		if c.plan.controlFailed {
			return inControlFailed
		}
	}
	return inStepDone
}

// feed moves the connection by the table: the row's action, then its next
// state, entering that state's step if it is a new one; then whatever the
// action found, the same way.
func (c *conn) feed(ev event) {
	for {
		tr, ok := step(c.state, ev.in)
		if !ok {
			c.ignore(ev)
			return
		}
		from := c.state
		follow, more := c.act(tr, ev)
		c.state = tr.next
		if st, ok := stepOf[tr.next]; ok && st != stepOf[from] {
			c.enter(st)
		}
		if !more {
			return
		}
		ev = follow
	}
}

func (c *conn) ignore(ev event) {
	switch {
	case ev.in == inServerMessage:
		c.log.Warn("server-to-client message from the client ignored", "type", ev.msg.MessageType())
	case ev.in.fromClient():
		c.log.Warn("message ignored (out of order)", "type", ev.msg.MessageType(), "state", c.state)
	default:
		c.log.Debug("ignored", "input", ev.in, "state", c.state)
	}
}

// act does tr's action; it returns the input the action found, if any.
func (c *conn) act(tr transition, ev event) (event, bool) {
	switch tr.act {
	case actAttach:
		return c.attach(ev.msg.(dpwire.Hello)), true
	case actStartSession:
		c.startSession()
	case actRefuseResume:
		c.log.Info("resume refused", "resume", ev.msg.(dpwire.Hello).Resume, "why", ev.detail)
		c.send(dpwire.Close{Reason: tr.reason, Message: ev.detail})
		c.closeSocket()
	case actQueueMoved:
		c.queue--
		c.progress(StepSearching, c.queue)
		c.arm(tStep, c.srv.cfg.Scenario.QueueDelay)
	case actQueueFront:
		c.queue = 0
		c.arm(tStep, c.srv.cfg.Scenario.SearchingDelay)
	case actAnswer:
		if err := c.answer(ev.msg.(dpwire.Offer)); err != nil {
			return event{in: inOfferUnusable, detail: err.Error()}, true
		}
	case actAddCandidate:
		c.addCandidate(ev.msg.(dpwire.Candidate))
	case actRestartICE:
		if err := c.restartICE(ev.msg.(dpwire.ICERestart)); err != nil {
			return event{in: inRestartUnusable, detail: err.Error()}, true
		}
	case actTrickle:
		c.trickle(ev.cand)
	case actMediaUp:
		c.disarm(tMedia)
		c.startMedia()
		c.log.Info("PeerConnection connected")
	case actLogDisconnected:
		c.log.Warn("PeerConnection disconnected")
	case actGoSilent:
		c.log.Info("scenario: going silent")
		c.cc.Silence()
	case actClose:
		reason, message := tr.reason, c.closeMessage(ev)
		if ev.in == inAdminClose {
			reason = ev.cmd.reason
		}
		c.closeWith(reason, message)
	case actClientClosed:
		v := ev.msg.(dpwire.Close)
		c.log.Info("client closed", "reason", v.Reason, "message", v.Message)
		if c.sess != nil {
			s := c.srv
			s.mu.Lock()
			c.sess.lastClose = v.Reason
			s.notifyLocked()
			s.mu.Unlock()
		}
		c.closeSocket()
	case actHandOver:
		// Tell the old socket, in case its kiosk is still alive (a copied
		// state file): it must not fight for the session but start its own.
		c.log.Info("taken over by a newer connection")
		c.send(dpwire.Close{Reason: tr.reason, Message: "session taken over by a newer connection"})
		c.cc.CloseNow(websocket.CloseNormalClosure)
	case actDrop:
		c.log.Info("dropping the control socket", "why", ev.in)
		c.cc.Drop()
	case actCloseProtocol:
		c.log.Warn("no hello in time; closing with 1002", "timeout", helloTimeout)
		c.cc.CloseAfterFlush(websocket.CloseProtocolError)
	case actCloseGoingAway:
		c.cc.CloseAfterFlush(websocket.CloseGoingAway)
	case actLost:
		c.log.Info("control socket ended without a close message", "err", c.cc.Err(), "state", c.state)
	}
	return event{}, false
}

// attach binds the connection to a fresh or resumed session: inAttached,
// or inResumeRefused if the session the hello names cannot be resumed.
func (c *conn) attach(h dpwire.Hello) event {
	h.Client.KioskID = c.kioskID // from the upgrade (docs/PROTOCOL.md section 2.5), never hello
	s := c.srv
	sc := &s.cfg.Scenario
	c.disarm(tHello)
	s.mu.Lock()
	s.stats.Hellos++
	var old *conn
	if h.Resume != "" {
		sess := s.sessions[h.Resume]
		if sess != nil {
			sess.attempts++
		}
		if sess == nil || !sess.resumable() || sc.ResumeWindow < 0 {
			s.stats.Refused[ReasonNoSessionToResume]++
			s.notifyLocked()
			s.mu.Unlock()
			why := "unknown session"
			if sess != nil {
				why = "session " + sess.state
				if sess.endReason != "" {
					why += " (" + sess.endReason + ")"
				}
			}
			return event{in: inResumeRefused, msg: h, detail: why}
		}
		old = sess.conn
		sess.conn = c
		sess.stopExpiry()
		sess.resumes++
		sess.state = StateSearching
		sess.client = h.Client
		c.sess = sess
		c.plan.resumed = true
		s.stats.Resumed++
	} else {
		sess := newSession(newID(), h.Client)
		sess.conn = c
		c.sess = sess
		s.addSessionLocked(sess)
		s.stats.Fresh++
		c.plan.noScene = take(sc.NoScene, &s.counts.fresh)
	}
	if !c.plan.noScene {
		c.plan.controlFailed = take(sc.ControlFailed, &s.counts.starts)
	}
	if take(sc.Hostile, &s.counts.hostile) {
		for _, m := range sc.HostileModes {
			c.plan.hostile[m] = true
		}
	}
	s.notifyLocked()
	s.mu.Unlock()

	c.log = c.log.With("session_id", c.sess.id)
	c.log.Info("session attached", "resumed", c.plan.resumed, "client", h.Client.Name, "client_version", h.Client.Version,
		"kiosk_id", h.Client.KioskID)
	if old != nil {
		// The kiosk came back while its old socket still looks alive
		// (a reboot, a half-open TCP connection): the new one wins.
		// Its media is torn down in the background; the session is ours.
		c.log.Info("resume takes over from an older control socket")
		old.do(command{kind: cmdTakeover})
	}
	return event{in: inAttached}
}

// startSession sends `session` and arms the connect deadline.
func (c *conn) startSession() {
	sc := &c.srv.cfg.Scenario
	c.send(dpwire.Session{SessionID: c.sess.id, Resumed: c.plan.resumed, HeartbeatMS: c.srv.heartbeatMS()})
	c.resendConversation()
	if cfg := c.srv.cfg; len(cfg.TURNURLs) > 0 {
		user, cred := TURNCredential(cfg.TURNSecret, c.sess.id, time.Now().Add(cfg.TURNTTL))
		c.send(dpwire.ICEServers{Servers: []dpwire.ICEServer{{URLs: cfg.TURNURLs, Username: user, Credential: cred}}})
	}
	if c.plan.hostile[HostileMalformed] {
		_ = c.cc.SendRaw([]byte(`{"type":"progress","state":"DownloadingAssets"`))
	}
	if c.plan.hostile[HostileOversized] {
		_ = c.cc.SendRaw(oversizedFrame())
	}
	if sc.ConnectTimeout > 0 {
		c.arm(tConnect, sc.ConnectTimeout)
	}
}

// enter does what a new step brings: its progress (for Connected, `ready`)
// and its timers, and the faults the scenario strikes it with.
func (c *conn) enter(st Step) {
	s := c.srv
	sc := &s.cfg.Scenario
	delay := func(d time.Duration) time.Duration {
		if c.plan.resumed {
			return 0
		}
		return d
	}
	if st == StepConnected {
		if !c.plan.hostile[HostileReadyEarly] { // that sent it already
			c.send(dpwire.Ready{})
		}
		c.disarm(tConnect)
		c.disarm(tMedia)
		c.log.Info("Connected")
	}
	c.setState(string(st))
	switch st {
	case StepSearching:
		if !c.plan.resumed && !c.plan.noScene && sc.QueuePosition > 0 {
			c.queue = sc.QueuePosition
			c.progress(StepSearching, c.queue)
			c.arm(tStep, sc.QueueDelay)
		} else {
			c.progress(StepSearching, 0)
			c.arm(tStep, delay(sc.SearchingDelay))
		}
	case StepAssets:
		c.progress(StepAssets, 0)
		c.arm(tStep, delay(sc.AssetsDelay))
	case StepConnecting:
		if c.plan.hostile[HostileAnswerBeforeOffer] {
			c.send(dpwire.Answer{SDP: "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=dpsim-not-an-answer\r\nt=0 0\r\n"})
		}
		c.progress(StepConnecting, 0)
		if c.plan.hostile[HostileReadyEarly] {
			c.send(dpwire.Ready{})
		}
		if c.plan.hostile[HostileBackwards] {
			c.send(dpwire.Progress{State: string(StepAssets)})
		}
		c.arm(tDP, delay(sc.ConnectingDelay))
	case StepConnected:
		if c.plan.hostile[HostileUnknownType] {
			c.send(unknownMessage{Note: "dpsim hostile mode: ignore me"})
		}
		if sc.IdleTimeout > 0 {
			c.arm(tIdle, sc.IdleTimeout)
		}
		if c.strike(sc.Drop, &s.counts.connects) {
			c.arm(tDrop, sc.DropAfter)
		}
	}
	// A stalled step's delay never ends: no next step, no `ready`.
	if st != StepConnected && sc.StallAt == st && c.strike(sc.Stall, &s.counts.stalls) {
		c.log.Info("scenario: stalling", "step", st)
		c.disarm(tStep)
		c.disarm(tDP)
	}
	if sc.SilenceAt == st && c.strike(sc.Silence, &s.counts.silences) {
		c.arm(tSilence, sc.SilenceAfter)
	}
}

func (c *conn) progress(st Step, queue int) {
	if c.plan.hostile[HostileUnknownType] {
		c.send(unknownMessage{Note: "dpsim hostile mode: ignore me"})
	}
	m := dpwire.Progress{State: string(st), QueuePosition: queue}
	c.send(m)
	if c.plan.hostile[HostileDuplicate] {
		c.send(m)
	}
}

// closeMessage is the human-readable detail of the close ev leads to.
func (c *conn) closeMessage(ev event) string {
	sc := &c.srv.cfg.Scenario
	switch ev.in {
	case inAdminClose:
		return ev.cmd.message
	case inNoScene:
		return "no Digital Person is free"
	case inControlFailed:
		return "the conversation control could not be set up"
	case inOfferUnusable:
		return ev.detail
	case inMediaTimeout:
		return fmt.Sprintf("WebRTC did not connect within %s", sc.MediaTimeout)
	case inConnectTimeout:
		return fmt.Sprintf("not Connected within %s", sc.ConnectTimeout)
	case inIdleTimeout:
		return fmt.Sprintf("no interaction for %s", sc.IdleTimeout)
	case inShutdown:
		return "server shutting down"
	case inPeerFailed:
		if c.state == stConnected {
			return "media path failed; resume the session"
		}
		return "WebRTC (ICE/DTLS) failed"
	}
	return ""
}

// closeWith sends `close` with reason, then closes the socket.
func (c *conn) closeWith(reason, message string) {
	c.log.Info("closing", "reason", reason, "message", message)
	if c.sess != nil {
		// Record before sending: whoever sees the close (a test, the
		// admin API) must find it already counted.
		s := c.srv
		s.mu.Lock()
		c.sess.sentClose = reason
		if c.state != stConnected {
			s.stats.Refused[reason]++
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
	c.send(dpwire.Close{Reason: reason, Message: message})
	c.sentReason = reason
	c.closeSocket()
}

func (c *conn) closeSocket() {
	c.cc.CloseAfterFlush(websocket.CloseNormalClosure)
}

// finish records the session's fate and tears everything down.
func (c *conn) finish() {
	close(c.quit)
	for t := range c.timers {
		c.disarm(timer(t))
	}
	s := c.srv
	s.mu.Lock()
	delete(s.conns, c)
	if sess := c.sess; sess != nil && sess.conn == c {
		sess.conn = nil
		end := ""
		switch {
		case s.closed:
			end = EndShutdown
		case c.sentReason != "" && endsSession(c.sentReason):
			end = c.sentReason
		case !sess.everConnected:
			end = EndSocketLost
			if c.sentReason != "" {
				end = c.sentReason
			}
		}
		if end != "" {
			sess.state, sess.endReason = StateEnded, end
		} else {
			sess.state = StateDisconnected
			window := s.cfg.Scenario.ResumeWindow
			sess.expiry = time.AfterFunc(window, func() { s.expire(sess) })
		}
	}
	s.notifyLocked()
	s.mu.Unlock()

	c.cc.Abandon()
	c.teardownMedia()
	c.cc.Wait()
}

func (s *Server) expire(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.state == StateDisconnected && sess.conn == nil {
		sess.state, sess.endReason = StateEnded, EndExpired
		sess.expiry = nil
		s.notifyLocked()
	}
}

// unknownMessage is a message type no version of the protocol has.
type unknownMessage struct {
	Note string `json:"note"`
}

func (unknownMessage) MessageType() string { return "x-dpsim-unknown" }

// oversizedFrame is well-formed JSON one byte over the frame limit.
func oversizedFrame() []byte {
	head := `{"type":"progress","state":"SearchingForDigitalPerson","pad":"`
	tail := `"}`
	pad := dpwire.MaxFrameSize + 1 - len(head) - len(tail)
	return []byte(head + strings.Repeat("x", pad) + tail)
}
