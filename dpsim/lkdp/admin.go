package lkdp

import (
	"net/http"
	"slices"

	"github.com/kioskd/kioskd/dpsim"
)

// AdminHandler serves the LiveKit mode's admin API, the same paths as
// dpsim's (docs/PROTOCOL.md section 16) where they mean the same. No
// authentication: serve it on loopback only (dpsim.CheckLoopbackAddr).
//
//	GET  /sessions                 JSON array of RoomInfo (id = the room name), oldest first
//	GET  /stats                    Stats (rooms, joins, token endpoint requests)
//	GET  /healthz                  "ok"
//	POST /leave?room=R             the DP leaves room R (every room without ?room)
//	POST /remove-kiosk?room=R      remove the kiosk's participant from R (the DP leaves too)
//	POST /delete-room?room=R       delete room R
//	POST /conversation?state=S&room=R  the DP's lk.agent.state in R (every room without):
//	                               idle, initializing, listening, thinking, speaking, or none
//	                               (removed), as dpsim's POST /conversation
//
// The POSTs answer {"rooms": n}, the number of rooms acted on; an action
// the server refused is a 502 with its error.
func (d *DP) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Rooms())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Stats())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /conversation", func(w http.ResponseWriter, r *http.Request) {
		state := r.URL.Query().Get("state")
		if !slices.Contains(dpsim.ConversationStates, state) {
			writeJSON(w, http.StatusBadRequest, map[string]any{
				"error": "state must be one of the conversation states", "state": state, "valid": dpsim.ConversationStates,
			})
			return
		}
		n := 0
		for _, rm := range d.live(r.URL.Query().Get("room")) {
			if rm.converse(state) {
				n++
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"rooms": n, "state": state})
	})
	for path, what := range map[string]string{"/leave": EndLeft, "/remove-kiosk": EndKickedKiosk, "/delete-room": EndDeletedRoom} {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			n := 0
			for _, rm := range d.live(r.URL.Query().Get("room")) {
				if err := rm.act(what); err != nil {
					writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error(), "rooms": n})
					return
				}
				n++
			}
			writeJSON(w, http.StatusOK, map[string]any{"rooms": n})
		})
	}
	return mux
}
