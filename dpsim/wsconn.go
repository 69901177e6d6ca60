package dpsim

import (
	"github.com/kioskd/kioskd/dpwire"

	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The server side of the control channel. dpsim has its own, independent of
// the client's (dialect/dpv1), for two reasons: a reference server must be able to
// misbehave on purpose (raw malformed and oversized frames, silence, a TCP
// cut without a close frame), and a second implementation of the wire
// format checks docs/PROTOCOL.md instead of agreeing with the client's
// code by construction. It shares only the message codec (dpwire).

// Why a control connection ended.
var (
	errClosedByUs = errors.New("closed by the server")
	errDropped    = errors.New("dropped by the server (no close message)")
	errPeerGone   = errors.New("control socket lost")
	errPeerDead   = errors.New("peer missed its heartbeats")
	errProtocol   = errors.New("protocol error")
)

// closeWait bounds how long the server waits for the peer's close frame
// after sending its own, before it closes the TCP connection.
const closeWait = time.Second

type ctrlConn struct {
	ws        *websocket.Conn
	log       *slog.Logger
	heartbeat time.Duration

	in        chan dpwire.Message
	out       chan outFrame
	done      chan struct{} // closed by fail
	readDone  chan struct{}
	writeDone chan struct{}
	seen      chan struct{}
	silent    atomic.Bool
	once      sync.Once
	closing   chan struct{} // closed when the server starts closing
	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

// outFrame is a text frame to write; or (close) the end of the stream:
// write a close frame with code and close the connection; or (silence)
// the point from which the server writes nothing.
type outFrame struct {
	data    []byte
	close   bool
	code    int
	noWait  bool // close: do not wait for the peer's close frame
	silence bool
}

// upgrade checks the origin, the token and the subprotocol and upgrades
// the request: 403 for a browser's Origin not in origins, 401 for a wrong
// or missing token (in the Authorization header, or for a browser in a
// kioskd.bearer. subprotocol entry; both, if given, must be right), 426 if
// the client does not offer dpwire.Subprotocol.
func upgrade(w http.ResponseWriter, r *http.Request, token string, origins []string) (*websocket.Conn, int, error) {
	// A browser always names the page's origin; a kiosk sends none. A page
	// from anywhere else must not ride on a visitor's browser.
	if o := r.Header.Get("Origin"); o != "" && !slices.Contains(origins, o) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return nil, http.StatusForbidden, errors.New("origin not allowed")
	}
	if token != "" && !tokenPresented(r, token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dpsim"`)
		http.Error(w, "token refused", http.StatusUnauthorized)
		return nil, http.StatusUnauthorized, errors.New("token refused")
	}
	offered := false
	for _, p := range websocket.Subprotocols(r) {
		if p == dpwire.Subprotocol {
			offered = true
		}
	}
	if !offered {
		w.Header().Set("Sec-WebSocket-Protocol", dpwire.Subprotocol)
		http.Error(w, "this server speaks "+dpwire.Subprotocol, http.StatusUpgradeRequired)
		return nil, http.StatusUpgradeRequired, fmt.Errorf("client did not offer %s", dpwire.Subprotocol)
	}
	up := websocket.Upgrader{
		Subprotocols:     []string{dpwire.Subprotocol},
		ReadBufferSize:   8 << 10,
		WriteBufferSize:  8 << 10,
		HandshakeTimeout: 10 * time.Second,
		// Checked above, against the configured origins.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return ws, http.StatusSwitchingProtocols, nil
}

// tokenPresented reports whether r carries token: in the Authorization
// header, in a bearer subprotocol entry, or in both (then both must be
// right), compared in constant time.
func tokenPresented(r *http.Request, token string) bool {
	var got []string
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme name is case-insensitive (RFC 9110).
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = append(got, strings.TrimSpace(t))
	}
	if t, ok, err := dpwire.TokenFromProtocols(websocket.Subprotocols(r)); ok {
		if err != nil {
			return false
		}
		got = append(got, t)
	}
	for _, t := range got {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) != 1 {
			return false
		}
	}
	return len(got) > 0
}

func newCtrlConn(ws *websocket.Conn, heartbeat time.Duration, log *slog.Logger) *ctrlConn {
	ws.SetReadLimit(dpwire.MaxFrameSize)
	c := &ctrlConn{
		ws: ws, log: log, heartbeat: heartbeat,
		in:        make(chan dpwire.Message, 16),
		out:       make(chan outFrame, 64),
		done:      make(chan struct{}),
		readDone:  make(chan struct{}),
		writeDone: make(chan struct{}),
		seen:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
	}
	go c.readLoop()
	go c.writeLoop()
	return c
}

// Incoming delivers the client's messages (heartbeats are answered inside);
// it is closed when the connection ends, and Err then says why.
func (c *ctrlConn) Incoming() <-chan dpwire.Message { return c.in }

func (c *ctrlConn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Send queues m.
func (c *ctrlConn) Send(m dpwire.Message) error {
	frame, err := dpwire.Encode(m)
	if err != nil {
		return err
	}
	if len(frame) > dpwire.MaxFrameSize {
		return fmt.Errorf("%s of %d bytes is over the frame limit", m.MessageType(), len(frame))
	}
	return c.SendRaw(frame)
}

// SendRaw queues a text frame as is, whatever it holds (hostile modes).
func (c *ctrlConn) SendRaw(frame []byte) error {
	select {
	case <-c.done:
		return c.Err()
	case c.out <- outFrame{data: frame}:
		return nil
	}
}

// Silence makes the server mute once what is queued has been written:
// from then on nothing is written, not even pongs or pings, and the server
// no longer checks the client's heartbeats (a hung server does not act).
// Reading goes on.
func (c *ctrlConn) Silence() {
	select {
	case <-c.done:
	case c.out <- outFrame{silence: true}:
	}
}

// CloseAfterFlush writes what is queued, then a close frame with code,
// waits briefly for the peer's close frame and closes the connection.
func (c *ctrlConn) CloseAfterFlush(code int) {
	c.startClosing()
	select {
	case <-c.done:
	case c.out <- outFrame{close: true, code: code}:
	}
}

// CloseNow writes what is queued and a close frame with code, and closes
// the connection without waiting for the peer's close frame (the peer may
// be long gone).
func (c *ctrlConn) CloseNow(code int) {
	c.startClosing()
	select {
	case <-c.done:
	case c.out <- outFrame{close: true, code: code, noWait: true}:
	}
}

// Drop cuts the TCP connection at once, with no close message and no
// close frame: what the client sees of a crashed server or a cut cable.
func (c *ctrlConn) Drop() {
	c.fail(errDropped, 0)
}

// Abandon cuts the connection unless a close is under way
// (CloseAfterFlush, CloseNow), which ends it by itself.
func (c *ctrlConn) Abandon() {
	select {
	case <-c.closing:
	default:
		c.Drop()
	}
}

// startClosing stops delivering messages: the server has decided to close
// and nobody reads Incoming any more; the reader goes on only to see the
// peer's close frame.
func (c *ctrlConn) startClosing() { c.closeOnce.Do(func() { close(c.closing) }) }

// Wait returns once both loops have ended.
func (c *ctrlConn) Wait() {
	<-c.readDone
	<-c.writeDone
}

// fail ends the connection; code != 0 writes a close frame first.
func (c *ctrlConn) fail(err error, code int) {
	c.once.Do(func() {
		c.errMu.Lock()
		c.err = err
		c.errMu.Unlock()
		close(c.done)
		if code != 0 && !c.silent.Load() {
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		}
		_ = c.ws.NetConn().Close()
	})
}

func (c *ctrlConn) readLoop() {
	defer close(c.readDone)
	defer close(c.in)
	for {
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			select {
			case <-c.closing:
				err = errClosedByUs
			default:
				err = classify(err)
			}
			c.fail(err, 0)
			return
		}
		select {
		case c.seen <- struct{}{}:
		default:
		}
		if typ != websocket.TextMessage {
			c.log.Warn("binary frame from the client; closing with 1002")
			c.fail(fmt.Errorf("%w: binary frame", errProtocol), websocket.CloseProtocolError)
			return
		}
		m, err := dpwire.Decode(frame)
		if errors.Is(err, dpwire.ErrUnknownType) {
			c.log.Info("ignoring a message of unknown type (forward compatibility)", "err", err)
			continue
		}
		if err != nil {
			c.log.Warn("malformed frame from the client; closing with 1002", "err", err)
			c.fail(fmt.Errorf("%w: %v", errProtocol, err), websocket.CloseProtocolError)
			return
		}
		switch v := m.(type) {
		case dpwire.Ping:
			if !c.silent.Load() {
				_ = c.Send(dpwire.Pong(v))
			}
			continue
		case dpwire.Pong:
			continue
		}
		select {
		case c.in <- m:
		case <-c.closing:
		case <-c.done:
			return
		}
	}
}

func classify(err error) error {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent close 1009.
		return fmt.Errorf("%w: frame over %d bytes", errProtocol, dpwire.MaxFrameSize)
	case errors.As(err, &ce):
		return fmt.Errorf("%w: close frame %d", errPeerGone, ce.Code)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return fmt.Errorf("%w: %v", errPeerGone, err)
	}
	return fmt.Errorf("%w: %v", errPeerGone, err)
}

func (c *ctrlConn) writeLoop() {
	defer close(c.writeDone)
	ticker := time.NewTicker(c.heartbeat)
	defer ticker.Stop()
	var seq uint64
	silent := 0
	for {
		select {
		case <-c.done:
			return
		case <-c.seen:
			silent = 0
		case <-ticker.C:
			if c.silent.Load() {
				continue
			}
			select {
			case <-c.seen:
				silent = 0
			default:
				silent++
			}
			if silent >= dpwire.MissedHeartbeats {
				c.fail(fmt.Errorf("%w: nothing heard for %s", errPeerDead, time.Duration(dpwire.MissedHeartbeats)*c.heartbeat), websocket.CloseGoingAway)
				return
			}
			seq++
			frame, _ := dpwire.Encode(dpwire.Ping{Seq: seq})
			if err := c.write(frame); err != nil {
				c.fail(fmt.Errorf("%w: %v", errPeerGone, err), 0)
				return
			}
		case f := <-c.out:
			if f.silence {
				c.silent.Store(true)
				continue
			}
			if f.close {
				c.closeHandshake(f.code, !f.noWait)
				return
			}
			if err := c.write(f.data); err != nil {
				c.fail(fmt.Errorf("%w: %v", errPeerGone, err), 0)
				return
			}
		}
	}
}

func (c *ctrlConn) write(frame []byte) error {
	if c.silent.Load() {
		return nil
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// closeHandshake sends a close frame and gives the peer closeWait to
// answer with its own before the TCP connection is closed, so that the
// last frames are not lost to a reset.
func (c *ctrlConn) closeHandshake(code int, wait bool) {
	if !c.silent.Load() {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
	}
	if !c.silent.Load() && wait {
		t := time.NewTimer(closeWait)
		select {
		case <-c.readDone:
		case <-c.done:
		case <-t.C:
		}
		t.Stop()
	}
	c.fail(errClosedByUs, 0)
}
