package dpv1

import (
	"crypto/tls"
	"errors"
	"net/http"
	"time"

	"github.com/kioskd/kioskd/dpwire"
)

// DialConfig says where and how to dial. Token is a secret: it is sent in
// the Authorization header and nowhere else, and never logged.
type DialConfig struct {
	URL       string
	Token     string
	TLS       *tls.Config
	Heartbeat time.Duration // ping interval until the server names one; 0: dpwire.DefaultHeartbeat
	UserAgent string
	// OnIgnored, if set, hears about every frame of this connection that
	// was ignored (an unknown type: the error is a *dpwire.UnknownTypeError),
	// on the connection's read goroutine.
	OnIgnored func(err error)
	// BuildTime is when kioskd was built; see Config.BuildTime.
	BuildTime time.Time
	// KioskID, if not "", goes in the upgrade's dpwire.KioskIDHeader
	// (docs/PROTOCOL.md section 2.5), never in hello.
	KioskID string
}

// Conn is an open control channel.
type Conn interface {
	// Send queues one message. Safe for concurrent use. It waits at most
	// a second for room in the queue: a full queue means a peer that reads
	// nothing, and Send then ends the channel (ErrPeerGone).
	Send(m dpwire.Message) error
	// Incoming delivers the peer's messages in order (heartbeats are handled
	// inside and never delivered). It is closed when the channel ends; Err
	// then says why.
	Incoming() <-chan dpwire.Message
	// Err is nil while the channel is open; after Incoming is closed it is
	// ErrClosed (we closed it), or wraps ErrPeerGone, ErrPeerDead,
	// dpwire.ErrMalformed or dpwire.ErrTooLarge.
	Err() error
	// SetHeartbeat changes the ping interval (the server's Session names it).
	SetHeartbeat(d time.Duration)
	// Close ends the channel without a Close message; send one first for a
	// clean close.
	Close() error
}

// Connection errors. Their text is what it was before the package moved
// (it reaches the journal in connect failures), like dpwire's.
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
