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
	"net/http"
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
	// URL is the LiveKit server's (wss://…, or ws:// to loopback). With
	// a TokenEndpoint it is optional: the endpoint's server_url wins.
	URL string
	// Token is a LiveKit access token (a JWT), or with a TokenEndpoint
	// the endpoint's bearer credential: secret, sent in an Authorization
	// header only, never logged.
	Token string
	// TokenEndpoint is a LiveKit standard token endpoint (endpoint.go);
	// "": Token is a static access token.
	TokenEndpoint string
	// AllowInsecure lets the endpoint's server_url be ws:// or http:// to
	// a host that is not loopback (server.allow_insecure).
	AllowInsecure bool
	// Room to join: "" takes the token's. A token that names a room
	// must name this one. With a TokenEndpoint: the room a fresh session
	// asks for; "": kiosk-<hostname>-<random>, a new one each time.
	Room string
	// Identity is the kiosk's participant identity. With a static token
	// it is informational: the token's identity is the one the server
	// uses ("": the token's). With a TokenEndpoint it is the
	// participant_identity asked for ("": the hostname).
	Identity string
	// DPIdentity names the Digital Person's participant; "": the first
	// agent participant (docs/LIVEKIT.md).
	DPIdentity string
	// AgentName, with a TokenEndpoint, asks the endpoint to dispatch the
	// LiveKit agent of that name (room_config.agents, endpoint.go); "":
	// no room_config. Without a TokenEndpoint New refuses it: a static
	// token carries its own dispatch.
	AgentName string
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
	// ResumeTimeout bounds an in-call resume (resume.go); 0:
	// DefaultResumeTimeout.
	ResumeTimeout time.Duration
	// DPSilence is how long the Digital Person's voice may stop arriving
	// on a working media path before the conversation is taken as ended
	// (silence.go); 0: DefaultDPSilence; negative: not watched
	// (server.livekit.dp_silence: 0s).
	DPSilence time.Duration
}

// Dialect joins LiveKit rooms. It implements dialect.Dialect.
type Dialect struct {
	cfg  Config
	api  *rtc.API
	http *http.Client // of the token endpoint; nil without one
	host string       // the hostname, for kiosk-<hostname>-<random> rooms

	mu           sync.Mutex
	roomSID      map[string]string  // the last SID seen for each room name (logged when it changes)
	calls        map[*call]struct{} // the running calls, for NetworkChanged
	refreshedTok map[string]string  // the server's last refresh_token, by room (resume.go): a secret
}

var _ dialect.Dialect = (*Dialect)(nil)

// Errors of New; none of them carries the token.
var (
	ErrNoURL       = errors.New("livekit: no server URL")
	ErrNoToken     = errors.New("livekit: no access token (server.token_file or KIOSKD_TOKEN)")
	ErrBadToken    = errors.New("livekit: the access token is not a JWT")
	ErrNoRoom      = errors.New("livekit: the access token names no room (and server.livekit.room is empty)")
	ErrRoomNeqJWT  = errors.New("livekit: server.livekit.room is not the access token's room")
	ErrBadEndpoint = errors.New("livekit: server.token_endpoint is not usable")
	ErrAgentStatic = errors.New("livekit: server.livekit.agent_name needs server.token_endpoint (a static token carries its own agent dispatch)")
)

// New checks cfg against its token and builds the dialect; nothing is
// dialled until Start.
func New(cfg Config) (*Dialect, error) {
	if cfg.URL == "" && cfg.TokenEndpoint == "" {
		return nil, ErrNoURL
	}
	if cfg.Token == "" {
		return nil, ErrNoToken
	}
	if cfg.TokenEndpoint != "" {
		return newWithEndpoint(cfg)
	}
	if cfg.AgentName != "" {
		return nil, ErrAgentStatic
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
	return build(cfg)
}

// newWithEndpoint builds a dialect that asks cfg.TokenEndpoint for each
// attempt's token: the credential is not a JWT, the room is chosen per
// session.
func newWithEndpoint(cfg Config) (*Dialect, error) {
	if msg := config.CheckEndpointURL(cfg.TokenEndpoint); msg != "" {
		return nil, fmt.Errorf("%w: %s", ErrBadEndpoint, msg)
	}
	if config.InsecureHTTP(cfg.TokenEndpoint) && !cfg.AllowInsecure {
		return nil, fmt.Errorf("%w: http:// to a host that is not loopback", ErrBadEndpoint)
	}
	host, _ := os.Hostname()
	if cfg.Identity == "" {
		cfg.Identity = host
	}
	d, err := build(cfg)
	if err != nil {
		return nil, err
	}
	d.http, d.host = newEndpointClient(cfg.TLS), roomSafe(host)
	return d, nil
}

func build(cfg Config) (*Dialect, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.Peer.Net == nil {
		// A network of the dialect's own, so that the ICE restarts of an
		// in-call resume gather on the interfaces as they are now
		// (restartPublisher refreshes it): pion's default reads them once,
		// and after a switch to another interface both PeerConnections
		// gathered the old addresses only (seen in internal/netlab's
		// TestLiveKitSwitchInterface: no candidate on the new address, the
		// resume timed out, the call rejoined).
		n, err := rtc.NewNet()
		if err != nil {
			return nil, fmt.Errorf("livekit: network interfaces: %w", err)
		}
		cfg.Peer.Net = n
	}
	api, err := rtc.NewWebRTCAPI(cfg.Peer)
	if err != nil {
		return nil, err
	}
	return &Dialect{cfg: cfg, api: api, roomSID: map[string]string{}, calls: map[*call]struct{}{}}, nil
}

// roomSafe keeps a hostname to what a room name may hold (letters,
// digits, '.', '_', '-'; others become '-'), at most 64 characters.
func roomSafe(host string) string {
	b := []byte(host)
	if len(b) > 64 {
		b = b[:64]
	}
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "host"
	}
	return string(b)
}

// roomFor is the room an attempt asks the token endpoint for: the stored
// session's on a resume, else server.livekit.room, else a new
// kiosk-<hostname>-<random>.
func (d *Dialect) roomFor(resume string) string {
	switch {
	case resume != "":
		return resume
	case d.cfg.Room != "":
		return d.cfg.Room
	}
	return RandomRoom(d.host)
}

// Name is "livekit".
func (d *Dialect) Name() string { return Name }

// Server is the server's URL without user info, query and fragment, and
// the room: stored beside the session id, so never a secret.
// With a token endpoint it is the endpoint's: it decides the server.
func (d *Dialect) Server() string {
	if d.cfg.TokenEndpoint != "" {
		return config.PublicURL(d.cfg.TokenEndpoint)
	}
	return config.PublicURL(d.cfg.URL)
}

// Room is the room the dialect joins (with a token endpoint: the
// configured room of a fresh session, "" for a random one).
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
