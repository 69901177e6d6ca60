// Package livekit is a dialect.Dialect that reaches a Digital Person in a
// LiveKit room (docs/LIVEKIT.md): the kiosk joins the room with an access
// token, waits for the Digital Person's participant, publishes its camera
// and microphone and subscribes to the Digital Person's voice and face.
//
// The client is kioskd's own, not LiveKit's Go SDK (docs/LIVEKIT.md,
// "Implementation choice"): LiveKit's signalling over its /rtc WebSocket
// (signal.go), its protobuf messages encoded by hand (wire.go), and two
// PeerConnections of kioskd's WebRTC engine (package rtc), one publishing
// the kiosk's send tracks (dialect.Media.Send), one receiving the room's
// tracks, so the encoders, devices and the speaker stay those of every
// other dialect. What the room shows is mapped
// onto docs/BEHAVIOUR.md sections 1 to 3 here (call.go); the deadlines,
// reactions and persistence are the supervisor's.
package livekit

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/rtc"
)

// Name is the dialect's name in logs and in the configuration
// (server.dialect).
const Name = config.DialectLiveKit

// Config is what the dialect needs to join a room.
type Config struct {
	// URL is the LiveKit server's (wss://…, or ws:// to loopback).
	URL string
	// Token is a LiveKit access token (a JWT): secret, sent in the
	// Authorization header only, never logged.
	Token string
	// Room to join: "" takes the token's. A token that names a room
	// must name this one.
	Room string
	// Identity is the kiosk's participant identity, informational: the
	// token's identity is the one the server uses ("": the token's).
	Identity string
	// DPIdentity names the Digital Person's participant; "": the first
	// agent participant (docs/LIVEKIT.md).
	DPIdentity string
	// TLS verifies a wss:// server (server.ca_file); nil: the system roots.
	TLS *tls.Config
	// Peer configures the WebRTC engine (configured ICE servers, relay
	// policy, timeouts); the server's ICE servers are added per call.
	Peer rtc.PeerOptions
	// ConnectTimeout bounds the join (the WebSocket and the server's join
	// response); 0: 10 s.
	ConnectTimeout time.Duration
	// Clock stamps the results; nil: the wall clock.
	Clock clock.Clock
}

// Dialect joins LiveKit rooms. It implements dialect.Dialect.
type Dialect struct {
	cfg Config
	api *rtc.API

	mu      sync.Mutex
	roomSID map[string]string // the last SID seen for each room name: a different one on resume is a new room
}

var _ dialect.Dialect = (*Dialect)(nil)

// Errors of New; none of them carries the token.
var (
	ErrNoURL      = errors.New("livekit: no server URL")
	ErrNoToken    = errors.New("livekit: no access token (server.token_file or KIOSKD_TOKEN)")
	ErrBadToken   = errors.New("livekit: the access token is not a JWT")
	ErrNoRoom     = errors.New("livekit: the access token names no room (and server.livekit.room is empty)")
	ErrRoomNeqJWT = errors.New("livekit: server.livekit.room is not the access token's room")
)

// New checks cfg against its token and builds the dialect; nothing is
// dialled until Start.
func New(cfg Config) (*Dialect, error) {
	if cfg.URL == "" {
		return nil, ErrNoURL
	}
	if cfg.Token == "" {
		return nil, ErrNoToken
	}
	claims, err := ParseClaims(cfg.Token)
	if err != nil {
		return nil, err
	}
	switch {
	case claims.Room != "" && cfg.Room != "" && claims.Room != cfg.Room:
		return nil, fmt.Errorf("%w (server.livekit.room %q)", ErrRoomNeqJWT, cfg.Room)
	case claims.Room != "":
		cfg.Room = claims.Room
	case cfg.Room == "":
		// A static token names the room it may join; a token without one
		// can join nothing (the kiosk-<hostname>-<random> default needs a
		// token endpoint, docs/LIVEKIT.md).
		return nil, ErrNoRoom
	}
	if cfg.Identity == "" {
		cfg.Identity = claims.Identity
	}
	if cfg.Identity == "" {
		cfg.Identity, _ = os.Hostname()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	api, err := rtc.NewWebRTCAPI(cfg.Peer)
	if err != nil {
		return nil, err
	}
	return &Dialect{cfg: cfg, api: api, roomSID: map[string]string{}}, nil
}

// Name is "livekit".
func (d *Dialect) Name() string { return Name }

// Server is the server's URL without user info, query and fragment, and
// the room: stored beside the session id, so never a secret.
func (d *Dialect) Server() string { return config.PublicURL(d.cfg.URL) }

// Room is the room the dialect joins.
func (d *Dialect) Room() string { return d.cfg.Room }

// Start joins the room and runs one call until it ends (see dialect.Call).
func (d *Dialect) Start(ctx context.Context, a dialect.Attempt) dialect.Call {
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
	c := newCall(d, a)
	go c.run(ctx)
	return c
}

// sawRoom remembers the SID of a room this process joined and says
// whether an earlier call saw another one under the same name.
func (d *Dialect) sawRoom(name, sid string) (changed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, ok := d.roomSID[name]
	d.roomSID[name] = sid
	return ok && prev != sid
}

// Claims is what the dialect reads of an access token: where it may go.
type Claims struct {
	Identity string
	Room     string
}

// ParseClaims reads the identity and room of a LiveKit access token
// without verifying it (only the server can). Errors never quote it.
func ParseClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, ErrBadToken
	}
	var c struct {
		Sub   string `json:"sub"`
		Video *struct {
			Room string `json:"room"`
		} `json:"video"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Claims{}, ErrBadToken
	}
	out := Claims{Identity: c.Sub}
	if c.Video != nil {
		out.Room = c.Video.Room
	}
	return out, nil
}

// RandomRoom is kiosk-<host>-<8 hex digits>: the room of a fresh session
// when nothing names one (a token endpoint, docs/LIVEKIT.md).
func RandomRoom(host string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "kiosk-" + host + "-" + hex.EncodeToString(b[:])
}
