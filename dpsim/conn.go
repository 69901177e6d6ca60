package dpsim

import (
	"github.com/kioskd/kioskd/dpwire"

	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"
)

// helloTimeout bounds the wait for the client's first message.
const helloTimeout = 10 * time.Second

type cmdKind int

const (
	cmdClose cmdKind = iota + 1
	cmdDrop
	cmdTakeover
)

type command struct {
	kind            cmdKind
	reason, message string
}

type evCandidate struct {
	pc *webrtc.PeerConnection
	c  *webrtc.ICECandidate // nil: gathering complete
}

type evPCState struct{ pc *webrtc.PeerConnection }

// conn is one control connection: the session's steps, its PeerConnection
// and the accounting of its media. Everything but the media readers runs
// in the one goroutine of serve; the rest of the server talks to it
// through cmds, pion through events.
type conn struct {
	srv *Server
	cc  *ctrlConn
	log *slog.Logger

	cmds   chan command
	acks   chan struct{}
	events chan any
	quit   chan struct{} // the loop has stopped; posts are dropped

	sess *session // set once at attach, under srv.mu

	// Loop state.
	resumed       bool
	step          Step
	queue         int
	hostile       map[HostileMode]bool
	noScene       bool
	controlFailed bool
	stalled       bool
	iceFail       bool
	dpStarted     bool
	pcConnected   bool
	readySent     bool
	connected     bool
	stop          bool
	closeQueued   bool   // a close frame is on its way
	serverReason  string // the close reason the server sent, if any
	shutdown      bool

	stepAlarm, dpAlarm, mediaAlarm, connectAlarm, idleAlarm, dropAlarm, silenceAlarm alarm

	pc  *webrtc.PeerConnection
	out []*dpTrack // the DP's tracks

	mediaMu      sync.Mutex
	mediaClosed  bool
	mediaStarted bool
	mediaWG      sync.WaitGroup
}

// alarm is a timer whose channel is nil while unset, for select.
type alarm struct {
	t *time.Timer
	c <-chan time.Time
}

func (a *alarm) set(d time.Duration) {
	a.reset()
	a.t = time.NewTimer(d)
	a.c = a.t.C
}

func (a *alarm) reset() {
	if a.t != nil {
		a.t.Stop()
		a.t, a.c = nil, nil
	}
}

func (s *Server) newConn(ws *websocket.Conn, remote string) *conn {
	log := s.log.With("remote", remote)
	r := &conn{
		srv:     s,
		cc:      newCtrlConn(ws, s.cfg.Heartbeat, log),
		log:     log,
		cmds:    make(chan command),
		acks:    make(chan struct{}),
		events:  make(chan any, 64),
		quit:    make(chan struct{}),
		hostile: map[HostileMode]bool{},
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		r.cc.Drop()
		r.cc.Wait()
		return nil
	}
	s.conns[r] = struct{}{}
	s.notifyLocked()
	s.mu.Unlock()
	return r
}

// do hands c to the loop; false if the loop has already stopped.
func (r *conn) do(c command) bool {
	select {
	case r.cmds <- c:
	case <-r.quit:
		return false
	}
	select {
	case <-r.acks:
	case <-r.quit:
	}
	return true
}

func (r *conn) post(ev any) {
	select {
	case r.events <- ev:
	case <-r.quit:
	}
}

func (r *conn) send(m dpwire.Message) {
	if err := r.cc.Send(m); err != nil {
		r.log.Debug("send failed", "type", m.MessageType(), "err", err)
	}
}

func (r *conn) strike(c Count, n *int) bool {
	r.srv.mu.Lock()
	defer r.srv.mu.Unlock()
	return take(c, n)
}

func (r *conn) setState(st string) {
	s := r.srv
	s.mu.Lock()
	if r.sess != nil && r.sess.conn == r {
		r.sess.state = st
		if st == StateConnected {
			r.sess.everConnected = true
			r.sess.connects++
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
}

func (r *conn) serve() {
	defer r.finish()
	if !r.awaitHello() {
		return
	}
	r.loop()
}

func (r *conn) awaitHello() bool {
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	for {
		select {
		case m, ok := <-r.cc.Incoming():
			if !ok {
				r.log.Info("control socket ended before hello", "err", r.cc.Err())
				return false
			}
			switch v := m.(type) {
			case dpwire.Hello:
				return r.attach(v)
			case dpwire.Close:
				r.log.Info("client closed before hello", "reason", v.Reason)
				r.closeSocket()
				return false
			default:
				r.log.Warn("message before hello ignored (out of order)", "type", m.MessageType())
			}
		case c := <-r.cmds:
			switch c.kind {
			case cmdClose:
				r.log.Info("closing before hello", "reason", c.reason)
				r.send(dpwire.Close{Reason: c.reason, Message: c.message})
				r.closeSocket()
			default:
				r.cc.Drop()
			}
			r.acks <- struct{}{}
			return false
		case <-t.C:
			r.log.Warn("no hello in time; closing with 1002", "timeout", helloTimeout)
			r.closeQueued = true
			r.cc.CloseAfterFlush(websocket.CloseProtocolError)
			return false
		case <-r.srv.ctx.Done():
			r.closeQueued = true
			r.cc.CloseAfterFlush(websocket.CloseGoingAway)
			return false
		}
	}
}

// attach binds the connection to a fresh or resumed session; false if the resume
// was refused (it has then sent close noSessionToResume).
func (r *conn) attach(h dpwire.Hello) bool {
	s := r.srv
	sc := &s.cfg.Scenario
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
			r.log.Info("resume refused", "resume", h.Resume, "why", why)
			r.send(dpwire.Close{Reason: ReasonNoSessionToResume, Message: why})
			r.closeSocket()
			return false
		}
		old = sess.conn
		sess.conn = r
		sess.stopExpiry()
		sess.resumes++
		sess.state = StateSearching
		sess.client = h.Client
		r.sess = sess
		r.resumed = true
		s.stats.Resumed++
	} else {
		sess := newSession(newID(), h.Client)
		sess.conn = r
		r.sess = sess
		s.addSessionLocked(sess)
		s.stats.Fresh++
		r.noScene = take(sc.NoScene, &s.counts.fresh)
	}
	if !r.noScene {
		r.controlFailed = take(sc.ControlFailed, &s.counts.starts)
	}
	if take(sc.Hostile, &s.counts.hostile) {
		for _, m := range sc.HostileModes {
			r.hostile[m] = true
		}
	}
	s.notifyLocked()
	s.mu.Unlock()

	r.log = r.log.With("session_id", r.sess.id)
	r.log.Info("session attached", "resumed", r.resumed, "client", h.Client.Name, "client_version", h.Client.Version)
	if old != nil {
		// The kiosk came back while its old socket still looks alive
		// (a reboot, a half-open TCP connection): the new one wins.
		// Its media is torn down in the background; the session is ours.
		r.log.Info("resume takes over from an older control socket")
		old.do(command{kind: cmdTakeover})
	}
	return true
}

func (r *conn) loop() {
	s := r.srv
	sc := &s.cfg.Scenario
	defer func() {
		for _, a := range []*alarm{&r.stepAlarm, &r.dpAlarm, &r.mediaAlarm, &r.connectAlarm, &r.idleAlarm, &r.dropAlarm, &r.silenceAlarm} {
			a.reset()
		}
	}()

	r.send(dpwire.Session{SessionID: r.sess.id, Resumed: r.resumed, HeartbeatMS: s.heartbeatMS()})
	if r.hostile[HostileMalformed] {
		_ = r.cc.SendRaw([]byte(`{"type":"progress","state":"DownloadingAssets"`))
	}
	if r.hostile[HostileOversized] {
		_ = r.cc.SendRaw(oversizedFrame())
	}
	if sc.ConnectTimeout > 0 {
		r.connectAlarm.set(sc.ConnectTimeout)
	}
	r.enter(StepSearching)

	for !r.stop {
		select {
		case m, ok := <-r.cc.Incoming():
			if !ok {
				r.log.Info("control socket ended without a close message", "err", r.cc.Err(), "connected", r.connected)
				r.stop = true
				break
			}
			r.onMessage(m)
		case ev := <-r.events:
			r.onEvent(ev)
		case c := <-r.cmds:
			r.onCommand(c)
			r.acks <- struct{}{}
		case <-r.stepAlarm.c:
			r.stepAlarm.reset()
			r.onStepDone()
		case <-r.dpAlarm.c:
			r.dpAlarm.reset()
			r.dpStarted = true
			r.maybeReady()
		case <-r.mediaAlarm.c:
			r.mediaAlarm.reset()
			if !r.pcConnected {
				r.closeWith(ReasonMediaStreamFailed, fmt.Sprintf("WebRTC did not connect within %s", sc.MediaTimeout))
			}
		case <-r.connectAlarm.c:
			r.connectAlarm.reset()
			if !r.connected {
				r.closeWith(ReasonSessionTimeout, fmt.Sprintf("not Connected within %s", sc.ConnectTimeout))
			}
		case <-r.idleAlarm.c:
			r.idleAlarm.reset()
			r.closeWith(ReasonSessionTimeout, fmt.Sprintf("no interaction for %s", sc.IdleTimeout))
		case <-r.dropAlarm.c:
			r.dropAlarm.reset()
			r.log.Info("scenario: dropping the control socket")
			r.cc.Drop()
			r.stop = true
		case <-r.silenceAlarm.c:
			r.silenceAlarm.reset()
			r.log.Info("scenario: going silent")
			r.cc.Silence()
		case <-s.ctx.Done():
			r.shutdown = true
			reason := ReasonServerConnectionFailed
			if r.connected {
				reason = ReasonControlDisconnected
			}
			r.closeWith(reason, "server shutting down")
		}
	}
}

// enter sends the progress of a step (or, for Connected, sets up what
// happens while Connected) and arms its timers.
func (r *conn) enter(st Step) {
	s := r.srv
	sc := &s.cfg.Scenario
	r.step = st
	r.setState(string(st))
	delay := func(d time.Duration) time.Duration {
		if r.resumed {
			return 0
		}
		return d
	}
	switch st {
	case StepSearching:
		if !r.resumed && !r.noScene && sc.QueuePosition > 0 {
			r.queue = sc.QueuePosition
			r.progress(StepSearching, r.queue)
			r.stepAlarm.set(sc.QueueDelay)
		} else {
			r.progress(StepSearching, 0)
			r.stepAlarm.set(delay(sc.SearchingDelay))
		}
	case StepAssets:
		r.progress(StepAssets, 0)
		r.stepAlarm.set(delay(sc.AssetsDelay))
	case StepConnecting:
		if r.hostile[HostileAnswerBeforeOffer] {
			r.send(dpwire.Answer{SDP: "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=dpsim-not-an-answer\r\nt=0 0\r\n"})
		}
		r.progress(StepConnecting, 0)
		if r.hostile[HostileReadyEarly] {
			r.send(dpwire.Ready{})
			r.readySent = true
		}
		if r.hostile[HostileBackwards] {
			r.send(dpwire.Progress{State: string(StepAssets)})
		}
		r.dpAlarm.set(delay(sc.ConnectingDelay))
	case StepConnected:
		if r.hostile[HostileUnknownType] {
			r.send(unknownMessage{Note: "dpsim hostile mode: ignore me"})
		}
		if sc.IdleTimeout > 0 {
			r.idleAlarm.set(sc.IdleTimeout)
		}
		if r.strike(sc.Drop, &s.counts.connects) {
			r.dropAlarm.set(sc.DropAfter)
		}
	}
	if st != StepConnected && sc.StallAt == st && r.strike(sc.Stall, &s.counts.stalls) {
		r.log.Info("scenario: stalling", "step", st)
		r.stalled = true
		r.stepAlarm.reset()
		r.dpAlarm.reset()
	}
	if sc.SilenceAt == st && r.strike(sc.Silence, &s.counts.silences) {
		r.silenceAlarm.set(sc.SilenceAfter)
	}
}

func (r *conn) progress(st Step, queue int) {
	if r.hostile[HostileUnknownType] {
		r.send(unknownMessage{Note: "dpsim hostile mode: ignore me"})
	}
	m := dpwire.Progress{State: string(st), QueuePosition: queue}
	r.send(m)
	if r.hostile[HostileDuplicate] {
		r.send(m)
	}
}

func (r *conn) onStepDone() {
	sc := &r.srv.cfg.Scenario
	switch r.step {
	case StepSearching:
		if r.queue > 0 {
			r.queue--
			if r.queue > 0 {
				r.progress(StepSearching, r.queue)
				r.stepAlarm.set(sc.QueueDelay)
				return
			}
			r.stepAlarm.set(sc.SearchingDelay)
			return
		}
		if r.noScene {
			r.closeWith(ReasonNoScene, "no Digital Person is free")
			return
		}
		r.enter(StepAssets)
	case StepAssets:
		if r.controlFailed {
			r.closeWith(ReasonControlFailed, "the conversation control could not be set up")
			return
		}
		r.enter(StepConnecting)
	}
}

// maybeReady sends `ready` once the DP has started and the server's
// PeerConnection is connected; the session is then Connected.
func (r *conn) maybeReady() {
	if r.connected || r.stalled || r.step != StepConnecting || !r.dpStarted || !r.pcConnected {
		return
	}
	if !r.readySent {
		r.send(dpwire.Ready{})
		r.readySent = true
	}
	r.connected = true
	r.connectAlarm.reset()
	r.mediaAlarm.reset()
	r.log.Info("Connected")
	r.enter(StepConnected)
}

func (r *conn) onMessage(m dpwire.Message) {
	switch v := m.(type) {
	case dpwire.Offer:
		r.onOffer(v)
	case dpwire.Candidate:
		r.onRemoteCandidate(v)
	case dpwire.Close:
		r.log.Info("client closed", "reason", v.Reason, "message", v.Message)
		s := r.srv
		s.mu.Lock()
		r.sess.lastClose = v.Reason
		s.notifyLocked()
		s.mu.Unlock()
		r.closeSocket()
	case dpwire.Hello:
		r.log.Warn("second hello ignored (out of order)")
	default:
		r.log.Warn("server-to-client message from the client ignored", "type", m.MessageType())
	}
}

func (r *conn) onCommand(c command) {
	switch c.kind {
	case cmdClose:
		r.closeWith(c.reason, c.message)
	case cmdDrop:
		r.log.Info("admin: dropping the control socket")
		r.cc.Drop()
		r.stop = true
	case cmdTakeover:
		// Tell the old socket, in case its kiosk is still alive (a copied
		// state file): it must not fight for the session but start its own.
		r.log.Info("taken over by a newer connection")
		r.send(dpwire.Close{Reason: ReasonNoSessionToResume, Message: "session taken over by a newer connection"})
		r.closeQueued = true
		r.cc.CloseNow(websocket.CloseNormalClosure)
		r.stop = true
	}
}

// closeWith sends `close` with reason, then closes the socket.
func (r *conn) closeWith(reason, message string) {
	s := r.srv
	r.log.Info("closing", "reason", reason, "message", message)
	// Record before sending: whoever sees the close (a test, the admin
	// API) must find it already counted.
	s.mu.Lock()
	r.sess.sentClose = reason
	if !r.connected {
		s.stats.Refused[reason]++
	}
	s.notifyLocked()
	s.mu.Unlock()
	r.send(dpwire.Close{Reason: reason, Message: message})
	r.serverReason = reason
	r.closeSocket()
}

func (r *conn) closeSocket() {
	r.closeQueued = true
	r.cc.CloseAfterFlush(websocket.CloseNormalClosure)
	r.stop = true
}

// finish records the session's fate and tears everything down.
func (r *conn) finish() {
	close(r.quit)
	s := r.srv
	s.mu.Lock()
	delete(s.conns, r)
	if sess := r.sess; sess != nil && sess.conn == r {
		sess.conn = nil
		end := ""
		switch {
		case r.shutdown || s.closed:
			end = EndShutdown
		case r.serverReason != "" && endsSession(r.serverReason):
			end = r.serverReason
		case !sess.everConnected:
			end = EndSocketLost
			if r.serverReason != "" {
				end = r.serverReason
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

	if !r.closeQueued {
		r.cc.Drop()
	}
	r.teardownMedia()
	r.cc.Wait()
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
