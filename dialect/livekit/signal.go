package livekit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The signal channel (LiveKit's /rtc WebSocket): binary protobuf
// SignalRequests out, SignalResponses in (wire.go).

// Query parameters of the join. protocol is the signalling version kioskd
// speaks: that of the Go SDK v2.19.0, whose flow (two PeerConnections, the
// server offering the subscriber) this follows; sdk and version name that
// SDK, so that the server applies the same client quirks to both.
const (
	protocolVersion = "17"
	sdkName         = "go"
	sdkVersion      = "2.19.0"
)

// Errors of the signal channel (the cause in a ConnectError: none carries
// the token or the server's answer body).
var (
	ErrTokenRefused = errors.New("livekit: the server refused the access token (401 unauthorized)")
	ErrNoJoin       = errors.New("livekit: the server's first signal message is not a join response")
	ErrPingTimeout  = errors.New("livekit: no signal message within the server's ping timeout")
	ErrRoomNotFound = errors.New("livekit: the room does not exist (HTTP 404)")
	ErrNoReconnect  = errors.New("livekit: the server's first signal message on a resume is not a reconnect response")
)

// Reasons of a resume (LiveKit's ReconnectReason), sent as
// reconnect_reason: the server logs them.
const (
	reconnectSignalLost    = 1 // RR_SIGNAL_DISCONNECTED
	reconnectPubFailed     = 2 // RR_PUBLISHER_FAILED
	reconnectSubFailed     = 3 // RR_SUBSCRIBER_FAILED
	reconnectNetworkChange = 4 // RR_SWITCH_CANDIDATE
)

// resumeQuery asks for LiveKit's in-call resume (reconnect=1&sid=…): the
// server keeps the participant and its PeerConnections and answers with
// a ReconnectResponse instead of a join response.
type resumeQuery struct {
	SID    string // the kiosk's participant SID
	Reason int32  // reconnect*
}

// signal is one /rtc connection. A goroutine reads it into In; Send may be
// called from any goroutine.
type signal struct {
	ws *websocket.Conn

	in   chan signalResponse
	done chan struct{} // closed by Close
	read chan struct{} // closed when the read goroutine has ended
	err  error         // why In closed; read after it has

	wmu       sync.Mutex
	closeOnce sync.Once
	started   atomic.Bool // the read goroutine runs (start)
}

// rtcURL is the server URL with /rtc appended to its path and the join's
// query: ws(s) as given, http(s) turned into ws(s).
func rtcURL(server string, resume *resumeQuery) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("livekit: server URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", fmt.Errorf("livekit: server URL scheme %q (ws, wss, http or https)", u.Scheme)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/rtc"
	u.User, u.Fragment = nil, ""
	q := url.Values{}
	q.Set("auto_subscribe", "1")
	q.Set("sdk", sdkName)
	q.Set("version", sdkVersion)
	q.Set("protocol", protocolVersion)
	q.Set("os", "linux")
	if resume != nil {
		q.Set("reconnect", "1")
		q.Set("sid", resume.SID)
		q.Set("reconnect_reason", fmt.Sprint(resume.Reason))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// dialSignal opens the signal channel and reads the join response; the
// token goes in the Authorization header only. timeout bounds both.
func dialSignal(ctx context.Context, server, token string, tlsCfg *tls.Config, timeout time.Duration) (*signal, *joinResponse, error) {
	s, r, err := dialRTC(ctx, server, token, tlsCfg, timeout, nil)
	if err != nil {
		return nil, nil, err
	}
	return s, r.Join, nil
}

// dialResume opens a signal channel that resumes the participant q.SID
// (LiveKit's in-call resume) and reads the server's ReconnectResponse. A
// server that no longer has the participant answers with a leave
// (STATE_MISMATCH): ErrNoReconnect, the caller rejoins.
func dialResume(ctx context.Context, server, token string, tlsCfg *tls.Config, timeout time.Duration, q resumeQuery) (*signal, *reconnectResponse, error) {
	s, r, err := dialRTC(ctx, server, token, tlsCfg, timeout, &q)
	if err != nil {
		return nil, nil, err
	}
	return s, r.Reconnect, nil
}

// dialRTC opens the signal channel and reads its first message: the join
// response, or with resume the reconnect response.
func dialRTC(ctx context.Context, server, token string, tlsCfg *tls.Config, timeout time.Duration, resume *resumeQuery) (*signal, signalResponse, error) {
	var none signalResponse
	u, err := rtcURL(server, resume)
	if err != nil {
		return nil, none, err
	}
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: timeout, TLSClientConfig: tlsCfg}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ws, resp, err := d.DialContext(dctx, u, h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		switch {
		case resp != nil && resp.StatusCode == http.StatusUnauthorized:
			return nil, none, ErrTokenRefused
		case resp != nil && resp.StatusCode == http.StatusNotFound:
			return nil, none, ErrRoomNotFound
		case resp != nil:
			return nil, none, fmt.Errorf("livekit: cannot join the room: the server answered HTTP %d", resp.StatusCode)
		}
		return nil, none, fmt.Errorf("livekit: cannot join the room: %w", err)
	}
	ws.SetReadLimit(4 << 20)
	// The first message is the join response (or a leave: the join failed).
	stop := context.AfterFunc(dctx, func() { _ = ws.SetReadDeadline(time.Now()) })
	_ = ws.SetReadDeadline(time.Now().Add(timeout))
	typ, b, err := ws.ReadMessage()
	stop()
	if err != nil {
		_ = ws.Close()
		return nil, none, fmt.Errorf("livekit: no join response: %w", err)
	}
	var r signalResponse
	if typ == websocket.BinaryMessage {
		r, err = decodeResponse(b)
	}
	want := ErrNoJoin
	if resume != nil {
		want = ErrNoReconnect
	}
	if err != nil || (resume == nil && r.Join == nil) || (resume != nil && r.Reconnect == nil) {
		_ = ws.Close()
		if r.Leave != nil {
			return nil, none, fmt.Errorf("%w (the server sent leave, %s)", want, r.Leave.Reason)
		}
		return nil, none, want
	}
	_ = ws.SetReadDeadline(time.Time{})
	s := &signal{ws: ws, in: make(chan signalResponse, 64), done: make(chan struct{}), read: make(chan struct{})}
	return s, r, nil
}

// start runs the read goroutine and, when interval > 0, pings the server
// every interval; no message within timeout ends the channel
// (ErrPingTimeout): a half-open connection is found without TCP's help.
func (s *signal) start(interval, timeout time.Duration) {
	s.started.Store(true)
	go s.readLoop(timeout)
	if interval > 0 {
		go s.pingLoop(interval)
	}
}

func (s *signal) readLoop(timeout time.Duration) {
	defer close(s.read)
	defer close(s.in)
	for {
		if timeout > 0 {
			_ = s.ws.SetReadDeadline(time.Now().Add(timeout))
		}
		typ, b, err := s.ws.ReadMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				err = ErrPingTimeout
			}
			s.err = err
			return
		}
		if typ != websocket.BinaryMessage {
			continue // LiveKit sends binary only; a text frame carries nothing for us
		}
		r, err := decodeResponse(b)
		if err != nil {
			s.err = err
			return
		}
		select {
		case s.in <- r:
		case <-s.done:
			s.err = errors.New("closed")
			return
		}
	}
}

func (s *signal) pingLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-s.read:
			return
		case now := <-t.C:
			if s.send(reqPingMsg(now.UnixMilli())) != nil {
				return
			}
		}
	}
}

// In delivers the server's messages; it is closed when the channel ends,
// and Err says why.
func (s *signal) In() <-chan signalResponse { return s.in }

// Err is why In closed.
func (s *signal) Err() error {
	<-s.read
	return s.err
}

// send writes one SignalRequest. A write that fails closes the
// connection, so that the read side ends too and the call sees signalling
// lost (In closes) rather than a failure of whatever it was sending (an
// answer is no media failure when the socket broke under it); send then
// returns nil.
func (s *signal) send(req []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := s.ws.WriteMessage(websocket.BinaryMessage, req); err != nil {
		_ = s.ws.Close()
	}
	return nil
}

// Close closes the connection (after a leave, if the caller sent one) and
// waits for the read goroutine. It is safe to call more than once.
func (s *signal) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.wmu.Lock()
		_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		s.wmu.Unlock()
		_ = s.ws.Close()
		if s.started.Load() { // a channel dialled and never started has no reader
			<-s.read
		}
	})
}

// secs is a whole number of seconds from the join response; 0 (or less):
// none.
func secs(n int32) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
