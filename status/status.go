// Package status lets people and machines see what kioskd is doing: a
// local unix socket served by the daemon (`kioskd status [--json]
// [--watch]`), its client and text renderer, and Prometheus metrics.
//
// Protocol on the socket (docs/BEHAVIOUR.md section 13 status.socket, mode 0660): the
// client sends one line, "status" or "watch". "status" gets one JSON
// object (a Status) on one line and the connection closes; "watch" gets one
// now and another on every change until either side closes. Anything else
// gets {"error": "..."}.
package status

import (
	"github.com/kioskd/kioskd/contract"

	"time"
)

// Status is the JSON object served on the socket.
type Status struct {
	State            string     `json:"state"`
	CurrentStep      int        `json:"current_step"`
	TotalSteps       int        `json:"total_steps"`
	PercentageLoaded int        `json:"percentage_loaded"`
	SessionID        string     `json:"session_id"`
	QueuePosition    int        `json:"queue_position"`
	LastError        string     `json:"last_error"`  // an error name of docs/BEHAVIOUR.md section 2, "" if none
	LastReason       string     `json:"last_reason"` // a disconnect reason of docs/BEHAVIOUR.md section 3, "" if none
	Attempt          int        `json:"attempt"`
	Since            *time.Time `json:"since"`      // when State was entered; null if unknown
	NextRetry        *time.Time `json:"next_retry"` // null unless waiting to retry
	Connects         int        `json:"connects"`
	LastErrorCode    int        `json:"last_error_code"`   // LastError's LED code (flashes), 0 if none
	Network          *Network   `json:"network,omitempty"` // while Connected, in the one-shot reply (see Network)

	// LastErrorDetail narrows LastError down ("unauthorized"), "" if
	// nothing does (contract.ErrorDetail).
	LastErrorDetail string `json:"last_error_detail"`

	// ConversationState is what the Digital Person is doing (idle,
	// initializing, listening, thinking, speaking); absent when it
	// publishes nothing or no call runs (contract.ConversationState).
	ConversationState string `json:"conversation_state,omitempty"`
}

// FromSnapshot converts the session's snapshot.
func FromSnapshot(s contract.Snapshot) Status {
	d := s.State.Data()
	st := Status{
		State:            d.Name,
		CurrentStep:      d.CurrentStep,
		TotalSteps:       d.TotalSteps,
		PercentageLoaded: d.PercentageLoaded,
		SessionID:        s.SessionID,
		QueuePosition:    s.QueuePosition,
		LastError:        s.LastError.String(),
		LastErrorDetail:  s.LastDetail.String(),
		LastReason:       s.LastReason.String(),
		Attempt:          s.Attempt,
		Since:            timePtr(s.Since),
		NextRetry:        timePtr(s.NextRetry),
		Connects:         s.Connects,
		LastErrorCode:    s.LastError.Code(),
	}
	if s.Conversation != contract.ConversationNone {
		st.ConversationState = s.Conversation.String()
	}
	return st
}

// LastErrorText is the last error as people read it: the name, with its
// detail in parentheses when it has one ("serverConnectionFailed
// (unauthorized)"); "" when there was none.
func (st Status) LastErrorText() string {
	if st.LastError == "" || st.LastErrorDetail == "" {
		return st.LastError
	}
	return st.LastError + " (" + clean(st.LastErrorDetail) + ")"
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.Round(0) // no monotonic reading: compare and encode by wall time
	return &t
}

// wire is what a client decodes: a Status, or an error from the server.
type wire struct {
	Status
	Error string `json:"error,omitempty"`
}
