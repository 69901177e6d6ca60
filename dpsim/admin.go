package dpsim

import (
	"encoding/json"
	"errors"
	"net/http"
)

// AdminHandler serves the admin API (docs/BEHAVIOUR.md section 12,
// docs/PROTOCOL.md section 16). It has no authentication: serve it on
// loopback only (ServeAdmin and ListenAdmin refuse anything else).
//
//	GET  /sessions           JSON array of SessionInfo, oldest first
//	POST /close?reason=R     send `close` with reason R (and &message=M) to every
//	                         live session; 400 if R is not a server close reason
//	POST /drop               cut every live control socket, no close message
//	POST /conversation?state=S  the DP says what it does (conversation_state,
//	                         protocol 1.5) on every live session; 400 if S is not
//	                         idle, initializing, listening, thinking, speaking or none
//	GET  /stats              Stats
//	GET  /healthz            "ok"
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Sessions())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST /close", func(w http.ResponseWriter, r *http.Request) {
		reason := r.URL.Query().Get("reason")
		n, err := s.CloseAll(reason, r.URL.Query().Get("message"))
		if errors.Is(err, ErrBadReason) {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"error": "reason must be one of the server close reasons", "reason": reason, "valid": ServerCloseReasons,
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"closed": n, "reason": reason})
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"dropped": s.Drop()})
	})
	mux.HandleFunc("POST /conversation", func(w http.ResponseWriter, r *http.Request) {
		state := r.URL.Query().Get("state")
		n, err := s.SetConversationState(state)
		if errors.Is(err, ErrBadConversationState) {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"error": "state must be one of the conversation states", "state": state, "valid": ConversationStates,
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"sent": n, "state": state})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
