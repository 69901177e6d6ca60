package livekit

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// The token endpoint (server.token_endpoint, docs/LIVEKIT.md): LiveKit's
// standard token endpoint, asked once per attempt for a room's server URL
// and access token. The kiosk's own credential goes in the Authorization
// header; neither it nor the token the endpoint returns is ever logged or
// put in an error.

// MaxEndpointAnswer bounds the endpoint's answer: a server URL and a JWT
// are a few KiB, anything larger is not a token endpoint.
const MaxEndpointAnswer = 64 << 10

// Errors of the token endpoint (the cause of a serverConnectionFailed).
var (
	// ErrEndpointRefused: the endpoint answered 401 or 403, the kiosk's
	// credential is wrong or revoked (detail unauthorized).
	ErrEndpointRefused = errors.New("livekit: the token endpoint refused the kiosk's credential")
	// ErrEndpoint: the endpoint could not be reached or gave no usable
	// answer.
	ErrEndpoint = errors.New("livekit: the token endpoint failed")
)

// tokenRequest is LiveKit's standard token-endpoint request
// (livekit.TokenSourceRequest in JSON). room_config is sent only to
// dispatch an agent (Config.AgentName); without it the endpoint decides.
type tokenRequest struct {
	RoomName            string      `json:"room_name"`
	ParticipantIdentity string      `json:"participant_identity"`
	ParticipantName     string      `json:"participant_name"`
	RoomConfig          *roomConfig `json:"room_config,omitempty"`
}

// roomConfig is the part of LiveKit's RoomConfiguration kioskd sends:
// the agents to dispatch to the room when it is created (the endpoint
// passes it to the access token, whose join creates the room).
type roomConfig struct {
	Agents []agentDispatch `json:"agents"`
}

// agentDispatch is LiveKit's RoomAgentDispatch.
type agentDispatch struct {
	AgentName string `json:"agent_name"`
}

// newTokenRequest is the request for room as the kiosk's identity.
func (d *Dialect) newTokenRequest(room string) tokenRequest {
	r := tokenRequest{RoomName: room, ParticipantIdentity: d.cfg.Identity, ParticipantName: d.cfg.Identity}
	if d.cfg.AgentName != "" {
		r.RoomConfig = &roomConfig{Agents: []agentDispatch{{AgentName: d.cfg.AgentName}}}
	}
	return r
}

// tokenAnswer is its answer (HTTP 201; 200 is taken too).
type tokenAnswer struct {
	ServerURL        string `json:"server_url"`
	ParticipantToken string `json:"participant_token"`
}

// newEndpointClient is the HTTP client of the token endpoint: TLS as the
// signalling's (server.ca_file), no redirects (they would carry the
// credential elsewhere), bounded by the caller's context.
func newEndpointClient(tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetchToken asks the endpoint for room; it returns the server URL to
// join and the access token. timeout bounds the whole exchange; ctx (the
// supervisor's deadline) may cut it shorter.
func (d *Dialect) fetchToken(ctx context.Context, room string, timeout time.Duration) (server, token string, err error) {
	body, err := json.Marshal(d.newTokenRequest(room))
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrEndpoint, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.TokenEndpoint, bytes.NewReader(body))
	if err != nil {
		return "", "", fmt.Errorf("%w: not a valid URL", ErrEndpoint) // the URL is not echoed
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.cfg.Token)
	resp, err := d.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", timeout)
		}
		return "", "", fmt.Errorf("%w: %w", ErrEndpoint, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return "", "", fmt.Errorf("%w (HTTP %d)", ErrEndpointRefused, resp.StatusCode)
	default:
		return "", "", fmt.Errorf("%w: HTTP %d", ErrEndpoint, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxEndpointAnswer+1))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("the answer did not arrive within %v", timeout)
		}
		return "", "", fmt.Errorf("%w: reading the answer: %w", ErrEndpoint, err)
	}
	if len(b) > MaxEndpointAnswer {
		return "", "", fmt.Errorf("%w: the answer is larger than %d KiB", ErrEndpoint, MaxEndpointAnswer>>10)
	}
	var a tokenAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		// The decoder's message may quote the body: not echoed.
		return "", "", fmt.Errorf("%w: the answer is not JSON with server_url and participant_token", ErrEndpoint)
	}
	if a.ParticipantToken == "" {
		return "", "", fmt.Errorf("%w: the answer has no participant_token", ErrEndpoint)
	}
	claims, err := ParseClaims(a.ParticipantToken)
	if err != nil {
		return "", "", fmt.Errorf("%w: participant_token: %w", ErrEndpoint, err)
	}
	if claims.Room != "" && claims.Room != room {
		return "", "", fmt.Errorf("%w: participant_token is for another room than %q", ErrEndpoint, room)
	}
	server = a.ServerURL
	if server == "" {
		server = d.cfg.URL
	}
	if server == "" {
		return "", "", fmt.Errorf("%w: the answer has no server_url (and server.url is empty)", ErrEndpoint)
	}
	if msg := checkServerURL(server, d.cfg.AllowInsecure); msg != "" {
		return "", "", fmt.Errorf("%w: server_url %s", ErrEndpoint, msg)
	}
	return server, a.ParticipantToken, nil
}

// checkServerURL returns what is wrong with a server URL the endpoint
// handed, or "": ws, wss, http or https, a host, no user info; ws and
// http only to loopback unless allowInsecure (as server.url). The URL is
// not in the message.
func checkServerURL(raw string, allowInsecure bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https":
		return "must be ws, wss, http or https"
	case u.Opaque != "" || u.Hostname() == "":
		return "has no host"
	case u.User != nil:
		return "must not carry credentials"
	}
	if u.Scheme == "ws" || u.Scheme == "http" {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) && !allowInsecure {
			return "is unencrypted to a host that is not loopback (server.allow_insecure is off)"
		}
	}
	return ""
}
