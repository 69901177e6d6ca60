// Package dpv1 is the client of kioskd.dp.v1, kioskd's own open signalling
// protocol (docs/PROTOCOL.md), as a dialect.Dialect: the WebSocket control
// channel (websocket.go, conn.go), the connection state table (machine.go)
// and one call from the dial to the end, with its PeerConnection (call.go).
//
// The messages and their codec are dpwire's, shared with the reference
// server (dpsim); the pion engine is rtc's. What a call learns is mapped onto
// docs/BEHAVIOUR.md sections 1 to 3 here, and reported to the supervisor
// through dialect.Reporter and dialect.Result; the deadlines, reactions and
// persistence are the supervisor's.
package dpv1

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/rtc"
)

// Name is the dialect's name in logs and in the configuration
// (server.dialect).
const Name = "kioskd"

// Config is what the dialect needs to reach a kioskd.dp.v1 server.
type Config struct {
	URL   string      // wss://…/v1/session
	Token string      // secret: sent in the Authorization header only, never logged
	TLS   *tls.Config // nil: the system roots
	// Heartbeat is the ping interval until the server names one; 0:
	// dpwire.DefaultHeartbeat.
	Heartbeat time.Duration
	UserAgent string
	// Client is what the hello says about the kiosk.
	Client dpwire.ClientInfo
	// Peer configures the WebRTC engine (ICE servers, timeouts).
	Peer rtc.PeerOptions
	// Clock drives the heartbeats and stamps the results; nil: the wall clock.
	Clock clock.Clock
	// BuildTime is when this kioskd was built (version.BuildTime): a
	// server certificate "not yet valid" at a clock before it means the
	// kiosk's clock is wrong, not the network (ClockError). Zero: unknown.
	BuildTime time.Time
	// ICERestartTimeout bounds an ICE restart; 0: DefaultICERestartTimeout.
	ICERestartTimeout time.Duration
}

// Dialect speaks kioskd.dp.v1. It implements dialect.Dialect.
type Dialect struct {
	cfg Config
	ws  *WebSocket
	api *rtc.API

	mu    sync.Mutex
	calls map[*call]struct{} // the running calls, for NetworkChanged
}

var _ dialect.Dialect = (*Dialect)(nil)

// New checks cfg and builds the dialect and its WebRTC engine; nothing
// is dialled until Start.
func New(cfg Config) (*Dialect, error) {
	if cfg.URL == "" {
		return nil, errors.New("dpv1: no server URL")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Peer.Net == nil {
		// A network of the dialect's own, so that an ICE restart gathers
		// on the interfaces as they are now (restart.go).
		n, err := rtc.NewNet()
		if err != nil {
			return nil, fmt.Errorf("dpv1: network interfaces: %w", err)
		}
		cfg.Peer.Net = n
	}
	api, err := rtc.NewWebRTCAPI(cfg.Peer)
	if err != nil {
		return nil, err
	}
	return &Dialect{cfg: cfg, ws: &WebSocket{Clock: cfg.Clock}, api: api}, nil
}

// Name is "kioskd".
func (d *Dialect) Name() string { return Name }

// Server is the server's URL without user info, query and fragment
// (they may carry secrets): stored beside the session id, so never a secret.
func (d *Dialect) Server() string { return config.PublicURL(d.cfg.URL) }

// Start dials the server and runs one call until it ends (see dialect.Call).
func (d *Dialect) Start(ctx context.Context, a dialect.Attempt) dialect.Call {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	c := newCall(d, a)
	go c.run(ctx)
	return c
}
