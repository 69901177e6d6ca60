package signalling

import (
	"github.com/kioskd/kioskd/dpwire"

	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"time"
)

// Dialect is one way of speaking to a Digital Person server. The session's
// state machine only ever sees Messages, so a new dialect is a new
// implementation of this interface and nothing else.
type Dialect interface {
	// Name identifies the dialect in logs and config.
	Name() string
	// Dial opens the control channel. The returned error wraps ErrDial,
	// ErrUnauthorized or ErrVersion.
	Dial(ctx context.Context, cfg DialConfig) (Conn, error)
}

// DialConfig says where and how to dial. Token is a secret: it is sent in
// the Authorization header and nowhere else, and never logged.
type DialConfig struct {
	URL       string
	Token     string
	TLS       *tls.Config
	Heartbeat time.Duration // ping interval until the server names one; 0: DefaultHeartbeat
	UserAgent string
}

// Conn is an open control channel.
type Conn interface {
	// Send queues one message. Safe for concurrent use.
	Send(m dpwire.Message) error
	// Incoming delivers the peer's messages in order (heartbeats are handled
	// inside and never delivered). It is closed when the channel ends; Err
	// then says why.
	Incoming() <-chan dpwire.Message
	// Err is nil while the channel is open; after Incoming is closed it is
	// ErrClosed (we closed it), or wraps ErrPeerGone, ErrPeerDead,
	// ErrMalformed or ErrTooLarge.
	Err() error
	// SetHeartbeat changes the ping interval (the server's Session names it).
	SetHeartbeat(d time.Duration)
	// Close ends the channel without a Close message; send one first for a
	// clean close.
	Close() error
}

// DefaultHeartbeat is the ping interval unless the server names another.
// A peer silent for MissedHeartbeats intervals is dead.
const (
	DefaultHeartbeat = 5 * time.Second
	MissedHeartbeats = 3
)

// Connection errors.
var (
	ErrDial         = errors.New("signalling: dial failed")
	ErrUnauthorized = errors.New("signalling: token refused")
	ErrVersion      = errors.New("signalling: server does not speak " + dpwire.Subprotocol)
	ErrClosed       = errors.New("signalling: closed")
	ErrPeerGone     = errors.New("signalling: control socket lost without a close message")
	ErrPeerDead     = errors.New("signalling: peer missed its heartbeats")
)

// BearerHeader returns the upgrade request header carrying token.
func BearerHeader(token string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}
