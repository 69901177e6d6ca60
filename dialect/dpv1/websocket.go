package dpv1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/clock"
)

// WebSocket dials the control channel of docs/PROTOCOL.md: one WebSocket
// carrying kioskd.dp.v1's JSON messages, with heartbeats handled inside.
type WebSocket struct {
	Clock clock.Clock // nil: the wall clock
}

// Dial opens the control channel. The returned error wraps ErrDial,
// ErrUnauthorized or ErrVersion.
func (d *WebSocket) Dial(ctx context.Context, cfg DialConfig) (Conn, error) {
	dialer := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: handshakeTimeout,
		Subprotocols:     []string{dpwire.Subprotocol},
		TLSClientConfig:  cfg.TLS,
		ReadBufferSize:   8 << 10,
		WriteBufferSize:  8 << 10,
	}
	h := BearerHeader(cfg.Token)
	if cfg.UserAgent != "" {
		h.Set("User-Agent", cfg.UserAgent)
	}
	if cfg.KioskID != "" && dpwire.CheckKioskID(cfg.KioskID) == nil {
		h.Set(dpwire.KioskIDHeader, cfg.KioskID)
	}
	// Once the TCP connection is up, gorilla heeds only ctx's deadline,
	// not its cancellation: a dial cut short (a shutdown, or the
	// supervisor's connect deadline aborting the call) would wait out the
	// handshake timeout. So the connection is closed when ctx ends before
	// the handshake is done.
	var handshook func() bool // false: ctx ended and closed the connection
	dialer.NetDialContext = func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		handshook = context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
	ws, resp, err := dialer.DialContext(ctx, cfg.URL, h)
	if handshook != nil && !handshook() && err == nil {
		ws.Close()
		err = ctx.Err()
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// Cut short (a shutdown, an abort): say so, whatever the
			// closed socket said.
			return nil, fmt.Errorf("%w: %s: %w", ErrDial, redactURL(cfg.URL), ctxErr)
		}
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return nil, fmt.Errorf("%w: HTTP %d", ErrUnauthorized, resp.StatusCode)
		}
		if resp != nil {
			return nil, fmt.Errorf("%w: %s: HTTP %d", ErrDial, redactURL(cfg.URL), resp.StatusCode)
		}
		if ce := clockProblem(err, tlsNow(cfg.TLS), cfg.BuildTime); ce != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrDial, redactURL(cfg.URL), ce)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrDial, redactURL(cfg.URL), err)
	}
	if ws.Subprotocol() != dpwire.Subprotocol {
		ws.Close()
		// Not its choice itself: a server may echo anything there,
		// the token included.
		return nil, fmt.Errorf("%w (it chose another, %d bytes long)", ErrVersion, len(ws.Subprotocol()))
	}
	return newWSConn(ws, d.Clock, cfg.Heartbeat, cfg.OnIgnored), nil
}

// redactURL drops user info, query and fragment (they may carry secrets)
// from a URL for errors.
func redactURL(u string) string {
	if p := config.PublicURL(u); p != "" {
		return p
	}
	return "the server URL"
}

// The control channel's time limits. A shutdown (docs/BEHAVIOUR.md
// section 10: exit within 5 s of SIGTERM; daemon.ShutdownGrace gives the
// supervisor 4 s) costs the channel at most sendTimeout (the close
// message, when the peer reads nothing) plus flushTimeout and
// closeFrameTimeout (Close): 2 s, whatever the peer does.
const (
	// handshakeTimeout bounds the dial's upgrade; cancelling the dial's
	// context ends it at once.
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds the write of one frame on the socket.
	writeTimeout = 10 * time.Second
	// sendTimeout bounds how long Send waits for room in the queue. The
	// queue is full only when the writer is stuck on a peer that reads
	// nothing; the channel is then as good as lost.
	sendTimeout = time.Second
	// flushTimeout is how long Close lets queued frames (a close message)
	// reach the wire.
	flushTimeout = 500 * time.Millisecond
	// closeFrameTimeout bounds the close frame.
	closeFrameTimeout = 500 * time.Millisecond
)

// outItem is a frame to write, or (ack set) a flush marker: the writer
// closes ack once everything queued before it is on the wire.
type outItem struct {
	frame []byte
	ack   chan struct{}
}

type wsConn struct {
	ws        *websocket.Conn
	clk       clock.Clock
	onIgnored func(error)

	in       chan dpwire.Message
	out      chan outItem
	done     chan struct{} // closed by Close or a failure
	beat     chan time.Duration
	errMu    sync.Mutex
	err      error
	once     sync.Once
	readDone chan struct{}
	lastSeen chan struct{} // a frame arrived
}

func newWSConn(ws *websocket.Conn, clk clock.Clock, heartbeat time.Duration, onIgnored func(error)) *wsConn {
	if clk == nil {
		clk = clock.Real
	}
	if heartbeat <= 0 {
		heartbeat = dpwire.DefaultHeartbeat
	}
	ws.SetReadLimit(dpwire.MaxFrameSize)
	c := &wsConn{
		ws: ws, clk: clk, onIgnored: onIgnored,
		in:       make(chan dpwire.Message, 16),
		out:      make(chan outItem, 32),
		done:     make(chan struct{}),
		beat:     make(chan time.Duration, 1),
		readDone: make(chan struct{}),
		lastSeen: make(chan struct{}, 1),
	}
	go c.readLoop()
	go c.writeLoop(heartbeat)
	return c
}

func (c *wsConn) Incoming() <-chan dpwire.Message { return c.in }

func (c *wsConn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

func (c *wsConn) fail(err error) {
	c.once.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		code := websocket.CloseNormalClosure
		switch {
		case errors.Is(err, dpwire.ErrMalformed):
			code = websocket.CloseProtocolError
		case errors.Is(err, dpwire.ErrTooLarge):
			code = websocket.CloseMessageTooBig
		}
		if !errors.Is(err, ErrPeerGone) {
			// WriteControl may run beside the writer's WriteMessage, and
			// waits for it at most until its deadline: a writer stuck on a
			// peer that reads nothing cannot hold the close up. Closing the
			// socket then ends that write too.
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(closeFrameTimeout))
		}
		c.ws.Close()
	})
}

func (c *wsConn) Close() error {
	// Let queued messages (a Close, typically) reach the wire first, briefly:
	// a flush marker goes through the same queue, so it is acknowledged only
	// after every frame queued before it has been written.
	ack := make(chan struct{})
	t := time.NewTimer(flushTimeout)
	select {
	case c.out <- outItem{ack: ack}:
		select {
		case <-ack:
		case <-c.done:
		case <-t.C:
		}
	case <-c.done:
	case <-t.C:
	}
	t.Stop()
	c.fail(ErrClosed)
	<-c.readDone
	return nil
}

func (c *wsConn) SetHeartbeat(d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-c.beat:
	default:
	}
	c.beat <- d
}

func (c *wsConn) Send(m dpwire.Message) error {
	frame, err := dpwire.Encode(m)
	if err != nil {
		return err
	}
	if len(frame) > dpwire.MaxFrameSize {
		return fmt.Errorf("%w: %s of %d bytes", dpwire.ErrTooLarge, m.MessageType(), len(frame))
	}
	select {
	case <-c.done:
		return c.closedErr()
	case c.out <- outItem{frame: frame}:
		return nil
	default:
	}
	t := time.NewTimer(sendTimeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.closedErr()
	case c.out <- outItem{frame: frame}:
		return nil
	case <-t.C:
		c.fail(fmt.Errorf("%w: the peer reads nothing (%d frames waiting for %s)", ErrPeerGone, cap(c.out), sendTimeout))
		return c.closedErr()
	}
}

// closedErr is what Send returns once the channel has ended.
func (c *wsConn) closedErr() error {
	if e := c.Err(); e != nil {
		return e
	}
	return ErrClosed
}

func (c *wsConn) readLoop() {
	defer close(c.readDone)
	defer close(c.in)
	for {
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			c.fail(classifyReadError(err))
			return
		}
		select {
		case c.lastSeen <- struct{}{}:
		default:
		}
		if typ != websocket.TextMessage {
			c.fail(fmt.Errorf("%w: binary frame", dpwire.ErrMalformed))
			return
		}
		m, err := dpwire.Decode(frame)
		if errors.Is(err, dpwire.ErrUnknownType) {
			if c.onIgnored != nil {
				c.onIgnored(err)
			}
			continue
		}
		if err != nil {
			c.fail(err)
			return
		}
		switch v := m.(type) {
		case dpwire.Ping:
			_ = c.Send(dpwire.Pong(v)) // the same seq, echoed
			continue
		case dpwire.Pong:
			continue
		}
		select {
		case c.in <- m:
		case <-c.done:
			return
		}
	}
}

func classifyReadError(err error) error {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return fmt.Errorf("%w: over %d bytes", dpwire.ErrTooLarge, dpwire.MaxFrameSize)
	case errors.As(err, &ce):
		if dpwire.StandardCloseCode(ce.Code) == websocket.CloseMessageTooBig {
			return fmt.Errorf("%w: the peer refused our frame as too big", dpwire.ErrTooLarge)
		}
		return fmt.Errorf("%w: close frame %d", ErrPeerGone, ce.Code)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %v", ErrPeerGone, err)
	}
	return fmt.Errorf("%w: %v", ErrPeerGone, err)
}

func (c *wsConn) writeLoop(heartbeat time.Duration) {
	ticker := c.clk.NewTicker(heartbeat)
	defer ticker.Stop()
	var seq uint64
	silent := 0
	for {
		select {
		case <-c.done:
			return
		case d := <-c.beat:
			heartbeat = d
			ticker.Reset(d)
		case <-c.lastSeen:
			silent = 0
		case <-ticker.C():
			// Drain a frame that arrived in the same instant before counting.
			select {
			case <-c.lastSeen:
				silent = 0
			default:
				silent++
			}
			if silent >= dpwire.MissedHeartbeats {
				c.fail(fmt.Errorf("%w: nothing heard for %s", ErrPeerDead, time.Duration(dpwire.MissedHeartbeats)*heartbeat))
				return
			}
			seq++
			if err := c.write(dpwire.Ping{Seq: seq}); err != nil {
				c.fail(fmt.Errorf("%w: %v", ErrPeerGone, err))
				return
			}
		case item := <-c.out:
			if item.ack != nil {
				close(item.ack)
				continue
			}
			if err := c.writeFrame(item.frame); err != nil {
				c.fail(fmt.Errorf("%w: %v", ErrPeerGone, err))
				return
			}
		}
	}
}

func (c *wsConn) write(m dpwire.Message) error {
	frame, err := dpwire.Encode(m)
	if err != nil {
		return err
	}
	return c.writeFrame(frame)
}

// writeFrame writes one frame; only writeLoop writes frames.
func (c *wsConn) writeFrame(frame []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}
