package lkdp

import (
	"crypto/subtle"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"time"

	"github.com/livekit/protocol/auth"

	"github.com/kioskd/kioskd/dpsim"
)

// TokenEndpoint is LiveKit's standard token endpoint as a kiosk's
// `server.token_endpoint` asks it: POST JSON {room_name,
// participant_identity, participant_name, room_config} with the kiosk's
// credential as `Authorization: Bearer`, answered 201 {server_url,
// participant_token}. The agents of room_config (explicit agent
// dispatch) are remembered for the room: the DP is the agent, and with
// an agent name it joins only the rooms dispatched to it (Config.AgentName).
// They are not put in the kiosk's token, so livekit-server dispatches
// nothing itself (no agent workers run beside it).
type TokenEndpoint struct {
	// Credential is the bearer the kiosk must send ("" accepts any).
	Credential string
	// ServerURL is answered as server_url (default: the DP's LiveKit URL).
	ServerURL string
	// Refuse refuses the first N requests (or always) with RefuseStatus
	// (401 or 403; default 401), as an endpoint that does not know the kiosk.
	Refuse       dpsim.Count
	RefuseStatus int
	// Delay holds every answer this long (an endpoint that is slow).
	Delay time.Duration
	// TTL is the minted tokens' validity (default 1 h).
	TTL time.Duration
}

// RegisterFlags binds ep to fs (cmd/dpsim's --token-endpoint-* flags; the
// credential comes from a file).
func (ep *TokenEndpoint) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&ep.Refuse, "token-endpoint-refuse", "LiveKit mode: refuse the first N token requests (N, always or never)")
	fs.IntVar(&ep.RefuseStatus, "token-endpoint-refuse-status", 401, "LiveKit mode: the status of a refusal, 401 or 403")
	fs.DurationVar(&ep.Delay, "token-endpoint-delay", ep.Delay, "LiveKit mode: hold every token answer this long")
}

// TokenHandler serves ep for the DP's server: the tokens it mints are the
// kiosk's (standard participants, room join for the room asked for).
// Neither the credential nor a token is ever logged or put in an error
// answer.
func (d *DP) TokenHandler(ep TokenEndpoint) http.Handler {
	if ep.ServerURL == "" {
		ep.ServerURL = d.cfg.URL
	}
	if ep.RefuseStatus != http.StatusForbidden {
		ep.RefuseStatus = http.StatusUnauthorized
	}
	if ep.TTL == 0 {
		ep.TTL = time.Hour
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.stats.TokenRequests++
		n := d.stats.TokenRequests
		d.notifyLocked()
		d.mu.Unlock()
		if ep.Delay > 0 {
			t := time.NewTimer(ep.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		fail := func(status int, msg string, refused bool) {
			d.mu.Lock()
			if refused {
				d.stats.TokensRefused++
			} else {
				d.stats.TokensBad++
			}
			d.notifyLocked()
			d.mu.Unlock()
			d.log.Info("token request refused", "status", status, "why", msg)
			writeJSON(w, status, map[string]string{"error": msg})
		}
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, "POST only", false)
			return
		}
		if ep.Credential != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+ep.Credential)) != 1 {
			fail(http.StatusUnauthorized, "unknown credential", false)
			return
		}
		if ep.Refuse == dpsim.Always || n <= int(ep.Refuse) {
			fail(ep.RefuseStatus, "refused (scenario)", true)
			return
		}
		var req struct {
			Room       string `json:"room_name"`
			Identity   string `json:"participant_identity"`
			Name       string `json:"participant_name"`
			RoomConfig *struct {
				Agents []struct {
					AgentName string `json:"agent_name"`
				} `json:"agents"`
			} `json:"room_config"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil || json.Unmarshal(body, &req) != nil || req.Room == "" || req.Identity == "" {
			fail(http.StatusBadRequest, "want JSON with room_name and participant_identity", false)
			return
		}
		at := auth.NewAccessToken(d.cfg.APIKey, d.cfg.APISecret).
			SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: req.Room}).
			SetIdentity(req.Identity).SetName(req.Name).SetValidFor(ep.TTL)
		tok, err := at.ToJWT()
		if err != nil {
			fail(http.StatusInternalServerError, "cannot mint a token", false)
			return
		}
		var agents []string
		if req.RoomConfig != nil {
			for _, a := range req.RoomConfig.Agents {
				agents = append(agents, a.AgentName)
			}
		}
		d.mu.Lock()
		d.stats.TokensIssued++
		d.rememberDispatchLocked(req.Room, agents)
		d.notifyLocked()
		d.mu.Unlock()
		d.log.Info("token issued", "room", req.Room, "identity", req.Identity, "dispatch", agents)
		writeJSON(w, http.StatusCreated, map[string]string{"server_url": ep.ServerURL, "participant_token": tok})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
