// Package chaos is a TCP proxy for kioskd's control WebSocket that cuts
// connections at chosen moments: during the upgrade, in each connection
// step, or while Connected. It follows the server's frames (the HTTP
// response, then unmasked WebSocket text frames carrying the JSON of
// docs/PROTOCOL.md) to know which step a connection is in, so a cut can be
// aimed at a step even when the step lasts microseconds (a resumed
// session skips the server's delays).
//
// The proxy only cuts TCP: WebRTC media flows over UDP directly between
// kioskd and the server and is not touched. Each accepted connection takes
// the next Plan from the caller (Proxy.Plan), so a seeded caller makes a
// run reproducible up to timing.
package chaos

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Phase is how far a connection has got, as seen in the server's frames.
type Phase int

const (
	// Accepted: TCP accepted; the server's upgrade response is not through yet.
	Accepted Phase = iota
	// Upgraded: the HTTP 101 has been forwarded; no message yet.
	Upgraded
	// Session: the server's `session` has been forwarded.
	Session
	// Searching, Assets, Connecting: the `progress` of that step has been forwarded.
	Searching
	Assets
	Connecting
	// Ready: `ready` has been forwarded (the kiosk is Connected once its
	// PeerConnection is too).
	Ready
	// Closed: the server sent `close`.
	Closed
)

var phaseNames = [...]string{"Accepted", "Upgraded", "Session", "SearchingForDigitalPerson", "DownloadingAssets", "ConnectingToDigitalPerson", "Ready", "Closed"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Plan says what happens to one connection.
type Plan struct {
	// Cut: cut the connection once At is reached and Delay has passed.
	// A plan without Cut forwards until either side closes.
	Cut   bool
	At    Phase
	Delay time.Duration
	// MidFrame: instead of waiting, cut in the middle of the frame that
	// reaches At (half of it is forwarded). At Accepted: in the middle of
	// the upgrade response.
	MidFrame bool
	// Hold stops forwarding the server's bytes once At is reached, until
	// the cut: the kiosk sees the server go quiet in that step (at
	// Accepted: its upgrade gets no answer).
	Hold bool
	// Reset closes the kiosk's side with a TCP RST (SO_LINGER 0) instead
	// of a FIN.
	Reset bool
}

func (p Plan) String() string {
	if !p.Cut {
		return "no cut"
	}
	s := "cut at " + p.At.String()
	switch {
	case p.MidFrame:
		s += " mid-frame"
	case p.Delay > 0:
		s += fmt.Sprintf(" +%s", p.Delay.Round(time.Microsecond))
	}
	if p.Hold {
		s += " holding"
	}
	if p.Reset {
		s += " (RST)"
	}
	return s
}

// Outcome is how a proxied connection ended.
type Outcome struct {
	Conn  int // 1, 2, … in accept order
	Plan  Plan
	Cut   bool      // the proxy cut it (else one side closed)
	Phase Phase     // how far it had got when it ended
	At    time.Time // when
	// Closer says who closed a connection that was not cut: "kiosk" or "server".
	Closer string
}

func (o Outcome) String() string {
	if o.Cut {
		return fmt.Sprintf("conn %d: cut in %s (%s)", o.Conn, o.Phase, o.Plan)
	}
	return fmt.Sprintf("conn %d: closed by the %s in %s (%s)", o.Conn, o.Closer, o.Phase, o.Plan)
}

// Proxy forwards TCP connections to a server and cuts them as planned.
type Proxy struct {
	l        net.Listener
	upstream string
	plans    func(conn int) (Plan, bool)
	outcomes chan Outcome

	mu     sync.Mutex
	n      int
	conns  map[*conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New listens on 127.0.0.1 and forwards each connection to upstream.
// plans is asked for the plan of each accepted connection, in accept
// order; it may block (the connection waits, unforwarded), but must
// return once the caller is shutting down; false refuses the connection
// (closed at once, no Outcome). Every connection's Outcome is sent on
// Outcomes, which the caller must drain.
func New(upstream string, plans func(conn int) (Plan, bool)) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l, upstream: upstream, plans: plans, outcomes: make(chan Outcome, 1024), conns: map[*conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Outcomes delivers one Outcome per connection.
func (p *Proxy) Outcomes() <-chan Outcome { return p.outcomes }

// Close stops accepting, cuts every connection and waits for the proxy's
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	cs := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	err := p.l.Close()
	for _, c := range cs {
		c.cut(false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		kc, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			kc.Close()
			return
		}
		p.n++
		n := p.n
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(n, kc)
	}
}

func (p *Proxy) handle(n int, kc net.Conn) {
	defer p.wg.Done()
	plan, ok := p.plans(n)
	if !ok {
		kc.Close()
		return
	}
	sc, err := net.Dial("tcp", p.upstream)
	if err != nil {
		kc.Close()
		p.outcomes <- Outcome{Conn: n, Plan: plan, Phase: Accepted, At: time.Now(), Closer: "server (dial: " + err.Error() + ")"}
		return
	}
	c := &conn{p: p, n: n, plan: plan, kiosk: kc, server: sc, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		kc.Close()
		sc.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()

	if plan.Cut && plan.At == Accepted && !plan.MidFrame {
		c.armed()
	}
	up := make(chan struct{})
	go func() {
		defer close(up)
		_, _ = io.Copy(sc, kc)
		c.end("kiosk")
	}()
	c.serverToKiosk()
	c.end("server")
	<-up
	if c.timer != nil {
		c.timer.Stop()
	}
	p.outcomes <- c.outcome()
}

// conn is one proxied connection.
type conn struct {
	p             *Proxy
	n             int
	plan          Plan
	kiosk, server net.Conn

	mu     sync.Mutex
	phase  Phase
	fired  bool // the plan has been set off (timer armed or cut)
	isCut  bool
	ended  bool
	closer string
	at     time.Time
	timer  *time.Timer
	done   chan struct{} // closed when the connection has ended
}

func (c *conn) outcome() Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Outcome{Conn: c.n, Plan: c.plan, Cut: c.isCut, Phase: c.phase, At: c.at, Closer: c.closer}
}

// armed sets off the plan: a cut now, or after Delay.
func (c *conn) armed() {
	c.mu.Lock()
	if c.fired || c.ended {
		c.mu.Unlock()
		return
	}
	c.fired = true
	if c.plan.Delay > 0 {
		c.timer = time.AfterFunc(c.plan.Delay, func() { c.cut(c.plan.Reset) })
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.cut(c.plan.Reset)
}

// cut closes both sides (the kiosk's with RST if reset) unless the
// connection has already ended.
func (c *conn) cut(reset bool) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended, c.isCut, c.at = true, true, time.Now()
	close(c.done)
	c.mu.Unlock()
	if tc, ok := c.kiosk.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	c.kiosk.Close()
	c.server.Close()
}

// end records that one side closed (if nothing else ended it first) and
// closes both.
func (c *conn) end(closer string) {
	c.mu.Lock()
	if !c.ended {
		c.ended, c.closer, c.at = true, closer, time.Now()
		close(c.done)
	}
	c.mu.Unlock()
	c.kiosk.Close()
	c.server.Close()
}

// reach records phase ph (phases only move forward) and reports whether
// the plan's moment has come.
func (c *conn) reach(ph Phase) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ph > c.phase {
		c.phase = ph
	}
	return c.plan.Cut && !c.fired && c.phase >= c.plan.At
}

// wouldReach says whether forwarding a frame of phase ph sets off a
// mid-frame plan.
func (c *conn) wouldReach(ph Phase) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.plan.Cut && c.plan.MidFrame && !c.fired && max(ph, c.phase) >= c.plan.At
}

// serverToKiosk forwards the server's bytes: the HTTP response, then
// WebSocket frames one by one, following the phase.
func (c *conn) serverToKiosk() {
	if c.plan.Cut && c.plan.Hold && c.plan.At == Accepted {
		<-c.done
		return
	}
	r := bufio.NewReaderSize(c.server, 32<<10)
	// The upgrade response: header lines up to the empty one.
	var head bytes.Buffer
	for {
		line, err := r.ReadSlice('\n')
		head.Write(line)
		if err != nil {
			if len(line) > 0 {
				_, _ = c.kiosk.Write(line)
			}
			return
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if head.Len() > 64<<10 {
			return
		}
	}
	if c.wouldReach(Upgraded) {
		_, _ = c.kiosk.Write(head.Bytes()[:head.Len()/2])
		c.fire()
		return
	}
	if _, err := c.kiosk.Write(head.Bytes()); err != nil {
		return
	}
	if !bytes.Contains(head.Bytes()[:min(head.Len(), 16)], []byte(" 101")) {
		// Refused (401, 426, …): the server closes; just forward.
		_, _ = io.Copy(c.kiosk, r)
		return
	}
	if c.reach(Upgraded) {
		c.armed()
		if c.plan.Hold {
			<-c.done
			return
		}
	}
	var msg []byte // a fragmented text message being assembled
	for {
		frame, payload, fin, opcode, err := readFrame(r)
		if err != nil {
			if len(frame) > 0 {
				_, _ = c.kiosk.Write(frame)
			}
			return
		}
		ph := Phase(-1)
		switch opcode {
		case 0x1, 0x0: // text, continuation
			msg = append(msg, payload...)
			if fin {
				ph = phaseOf(msg)
				msg = msg[:0]
			}
		case 0x8: // close frame
			ph = Closed
		}
		if ph >= 0 && c.wouldReach(ph) {
			_, _ = c.kiosk.Write(frame[:len(frame)/2])
			c.fire()
			return
		}
		if _, err := c.kiosk.Write(frame); err != nil {
			return
		}
		if ph >= 0 && c.reach(ph) {
			c.armed()
			if c.plan.Hold {
				<-c.done
				return
			}
		}
	}
}

// fire cuts at once (a mid-frame plan).
func (c *conn) fire() {
	c.mu.Lock()
	c.fired = true
	c.mu.Unlock()
	c.cut(c.plan.Reset)
}

// phaseOf maps a server message to the phase it starts (-1: none).
func phaseOf(msg []byte) Phase {
	var m struct {
		Type  string `json:"type"`
		State string `json:"state"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return -1
	}
	switch m.Type {
	case "session":
		return Session
	case "ready":
		return Ready
	case "close":
		return Closed
	case "progress":
		switch m.State {
		case "SearchingForDigitalPerson":
			return Searching
		case "DownloadingAssets":
			return Assets
		case "ConnectingToDigitalPerson":
			return Connecting
		}
	}
	return -1
}

var errFrame = errors.New("chaos: bad frame")

// readFrame reads one WebSocket frame (RFC 6455 section 5.2) and returns
// its bytes as read, its (unmasked) payload, FIN and opcode. On error,
// frame holds what was read of it.
func readFrame(r *bufio.Reader) (frame, payload []byte, fin bool, opcode byte, err error) {
	var h [14]byte
	if _, err = io.ReadFull(r, h[:2]); err != nil {
		return nil, nil, false, 0, err
	}
	n := 2
	fin, opcode = h[0]&0x80 != 0, h[0]&0x0f
	masked := h[1]&0x80 != 0
	size := uint64(h[1] & 0x7f)
	switch size {
	case 126:
		if _, err = io.ReadFull(r, h[2:4]); err != nil {
			return h[:2], nil, false, 0, err
		}
		size, n = uint64(binary.BigEndian.Uint16(h[2:4])), 4
	case 127:
		if _, err = io.ReadFull(r, h[2:10]); err != nil {
			return h[:2], nil, false, 0, err
		}
		size, n = binary.BigEndian.Uint64(h[2:10]), 10
	}
	if size > 1<<20 {
		return h[:n], nil, false, 0, errFrame
	}
	var key []byte
	if masked {
		if _, err = io.ReadFull(r, h[n:n+4]); err != nil {
			return h[:n], nil, false, 0, err
		}
		key = h[n : n+4]
		n += 4
	}
	frame = make([]byte, n+int(size))
	copy(frame, h[:n])
	if _, err = io.ReadFull(r, frame[n:]); err != nil {
		return frame[:n], nil, false, 0, err
	}
	payload = append([]byte(nil), frame[n:]...)
	for i := range payload {
		if key != nil {
			payload[i] ^= key[i%4]
		}
	}
	return frame, payload, fin, opcode, nil
}
