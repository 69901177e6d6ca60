package dpsim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/dpwire"
)

// The client side of the control channel for dpsim's own tests: a plain
// reading of docs/PROTOCOL.md (sections 2, 3, 11 and 12) on gorilla's
// websocket, so that dpsim is tested against the protocol and not against
// kioskd's client code. kioskd's client is tested against dpsim in its own
// package.

// Why a test client's control channel ended.
var (
	errClientClosed = errors.New("test client: closed")
	errPeerGone     = errors.New("test client: control socket lost without a close message")
	errPeerDead     = errors.New("test client: server missed its heartbeats")
)

// bearer is the upgrade request header carrying token (section 2.3).
func bearer(token string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// clientConn is an open control channel: heartbeats are answered and sent
// inside, every other message is delivered on Incoming.
type clientConn struct {
	ws        *websocket.Conn
	onIgnored func(error)
	browser   bool // close codes a browser can send only

	in       chan dpwire.Message
	done     chan struct{}
	readDone chan struct{}
	beatDone chan struct{}
	beat     chan time.Duration
	seen     chan struct{}

	writeMu sync.Mutex
	once    sync.Once
	errMu   sync.Mutex
	err     error
}

// browserOrigin is the page a browser test client claims to come from.
const browserOrigin = "https://kiosk-app.example"

// browserRequest is what a browser's `new WebSocket(url, protocols)` can
// send (section 2.3): no Authorization header, the token as a
// subprotocol entry, and the page's Origin, which the browser adds.
func browserRequest(token string) (http.Header, []string) {
	h := http.Header{}
	h.Set("Origin", browserOrigin)
	protocols := []string{dpwire.Subprotocol}
	if token != "" {
		protocols = append(protocols, dpwire.BearerProtocol(token))
	}
	return h, protocols
}

// dialClient upgrades to url with token, offering kioskd.dp.v1; it fails the
// test unless the server selects it. A browser client does only what a
// browser's WebSocket can (browserRequest, and close codes 1000 and
// 4000-4999 only).
func dialClient(t testing.TB, url, token string, browser bool, onIgnored func(error)) *clientConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	header, protocols := bearer(token), []string{dpwire.Subprotocol}
	if browser {
		header, protocols = browserRequest(token)
	}
	dialer := websocket.Dialer{Subprotocols: protocols}
	ws, resp, err := dialer.DialContext(ctx, url, header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if ws.Subprotocol() != dpwire.Subprotocol {
		ws.Close()
		t.Fatalf("the server chose subprotocol %q", ws.Subprotocol())
	}
	ws.SetReadLimit(dpwire.MaxFrameSize)
	c := &clientConn{
		ws: ws, onIgnored: onIgnored, browser: browser,
		in:       make(chan dpwire.Message, 16),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
		beatDone: make(chan struct{}),
		beat:     make(chan time.Duration, 1),
		seen:     make(chan struct{}, 1),
	}
	go c.readLoop()
	go c.heartbeat(dpwire.DefaultHeartbeat)
	return c
}

func (c *clientConn) Incoming() <-chan dpwire.Message { return c.in }

// Err says why the channel ended: errClientClosed, errPeerGone,
// errPeerDead, dpwire.ErrMalformed or dpwire.ErrTooLarge.
func (c *clientConn) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// Send writes m at once: a message sent before Close is on the wire.
func (c *clientConn) Send(m dpwire.Message) error {
	frame, err := dpwire.Encode(m)
	if err != nil {
		return err
	}
	select {
	case <-c.done:
		return c.Err()
	default:
	}
	return c.write(frame)
}

func (c *clientConn) write(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// SetHeartbeat takes the interval the server named in `session`.
func (c *clientConn) SetHeartbeat(d time.Duration) {
	select {
	case <-c.beat:
	default:
	}
	c.beat <- d
}

// Close ends the channel with a close frame (no `close` message).
func (c *clientConn) Close() error {
	c.fail(errClientClosed)
	<-c.readDone
	<-c.beatDone
	return nil
}

func (c *clientConn) fail(err error) {
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
		case errors.Is(err, errPeerDead):
			code = websocket.CloseGoingAway
		}
		if c.browser && code != websocket.CloseNormalClosure {
			// A browser's close() takes 1000 or 3000-4999 only: 4000 plus
			// the standard code's last three digits (section 12.5).
			code += dpwire.BrowserCloseOffset
		}
		if !errors.Is(err, errPeerGone) {
			c.writeMu.Lock()
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
			c.writeMu.Unlock()
		}
		c.ws.Close()
	})
}

func (c *clientConn) readLoop() {
	defer close(c.readDone)
	defer close(c.in)
	for {
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.fail(fmt.Errorf("%w: over %d bytes", dpwire.ErrTooLarge, dpwire.MaxFrameSize))
			} else {
				c.fail(fmt.Errorf("%w: %v", errPeerGone, err))
			}
			return
		}
		select {
		case c.seen <- struct{}{}:
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
			_ = c.Send(dpwire.Pong(v))
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

// heartbeat pings every interval and declares the server dead after three
// intervals without a frame from it.
func (c *clientConn) heartbeat(d time.Duration) {
	defer close(c.beatDone)
	ticker := time.NewTicker(d)
	defer ticker.Stop()
	var seq uint64
	silent := 0
	for {
		select {
		case <-c.done:
			return
		case d = <-c.beat:
			ticker.Reset(d)
		case <-c.seen:
			silent = 0
		case <-ticker.C:
			select {
			case <-c.seen:
				silent = 0
			default:
				silent++
			}
			if silent >= 3 {
				c.fail(fmt.Errorf("%w: nothing heard for %s", errPeerDead, 3*d))
				return
			}
			seq++
			if err := c.Send(dpwire.Ping{Seq: seq}); err != nil {
				c.fail(fmt.Errorf("%w: %v", errPeerGone, err))
				return
			}
		}
	}
}
