package logging

import (
	"log/slog"

	"github.com/kioskd/kioskd/contract"
)

// Field keys of docs/BEHAVIOUR.md section 9 (JSON/text; the journal
// upper-cases them).
const (
	KeySessionID        = "session_id"
	KeyConnectionState  = "connection_state"
	KeyCurrentStep      = "current_step"
	KeyPercentageLoaded = "percentage_loaded"
	KeyErrorName        = "error_name"
	KeyErrorDetail      = "error_detail"
	KeyDisconnectReason = "disconnect_reason"
	// KeyConversationState is what the Digital Person is doing
	// (CONVERSATION_STATE in the journal), on the line of each change.
	KeyConversationState = "conversation_state"
)

// SessionID is the session_id attribute.
func SessionID(id string) slog.Attr { return slog.String(KeySessionID, id) }

// State is connection_state, current_step and percentage_loaded, inlined.
func State(s contract.ConnectionState) slog.Attr {
	d := s.Data()
	return slog.Attr{Value: slog.GroupValue(
		slog.String(KeyConnectionState, d.Name),
		slog.Int(KeyCurrentStep, d.CurrentStep),
		slog.Int(KeyPercentageLoaded, d.PercentageLoaded),
	)}
}

// ErrorName is the error_name attribute.
func ErrorName(n contract.ErrorName) slog.Attr { return slog.String(KeyErrorName, n.String()) }

// ErrorDetail is the error_detail attribute (ERROR_DETAIL in the journal):
// what narrows an error name down, e.g. unauthorized beside
// serverConnectionFailed. Log it only when there is one.
func ErrorDetail(d contract.ErrorDetail) slog.Attr { return slog.String(KeyErrorDetail, d.String()) }

// DisconnectReason is the disconnect_reason attribute.
func DisconnectReason(r contract.DisconnectReason) slog.Attr {
	return slog.String(KeyDisconnectReason, r.String())
}
