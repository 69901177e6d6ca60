package logging

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"log/slog"
)

// Field keys of SPEC section 9 (JSON/text; the journal upper-cases them).
const (
	KeySessionID        = "session_id"
	KeyConnectionState  = "connection_state"
	KeyCurrentStep      = "current_step"
	KeyPercentageLoaded = "percentage_loaded"
	KeyErrorName        = "error_name"
	KeyDisconnectReason = "disconnect_reason"
	KeyQueuePosition    = "queue_position"
	KeyAttempt          = "attempt"
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

// DisconnectReason is the disconnect_reason attribute.
func DisconnectReason(r contract.DisconnectReason) slog.Attr {
	return slog.String(KeyDisconnectReason, r.String())
}

// EventAttrs are the log fields of a session event.
func EventAttrs(e contract.Event) []slog.Attr {
	as := make([]slog.Attr, 0, 8)
	if e.SessionID != "" {
		as = append(as, SessionID(e.SessionID))
	}
	as = append(as, State(e.State))
	switch e.Kind {
	case contract.EventState:
		if e.State == contract.Connected {
			as = append(as, slog.Bool("resumed", e.Resumed))
		}
	case contract.EventQueue:
		as = append(as, slog.Int(KeyQueuePosition, e.QueuePosition))
	case contract.EventConnectFailed, contract.EventMediaFailed:
		as = append(as, ErrorName(e.ErrorName), slog.Int(KeyAttempt, e.Attempt))
		if e.Cause != nil {
			as = append(as, slog.Any("error", e.Cause))
		}
	case contract.EventDisconnected:
		as = append(as, DisconnectReason(e.Reason))
		if e.Reason == contract.ReasonNormal {
			as = append(as, slog.Bool("by_us", e.ByUs))
		}
	case contract.EventRetry:
		as = append(as, slog.Duration("delay", e.Delay), slog.Int(KeyAttempt, e.Attempt))
		if e.ErrorName != contract.NoError {
			as = append(as, ErrorName(e.ErrorName))
		}
	}
	return as
}

// LogEvent writes one line for e (none for EventProgress, which only
// proves liveness).
func LogEvent(ctx context.Context, log *slog.Logger, e contract.Event) {
	var level slog.Level
	var msg string
	switch e.Kind {
	case contract.EventState:
		level, msg = slog.LevelInfo, "connection state "+e.State.String()
	case contract.EventQueue:
		level, msg = slog.LevelInfo, "queued for a Digital Person"
	case contract.EventConnectFailed:
		level, msg = slog.LevelWarn, "connect failed: "+e.ErrorName.String()
	case contract.EventDisconnected:
		level, msg = slog.LevelInfo, "session ended: "+e.Reason.String()
		if e.Reason == contract.ReasonControlDisconnected {
			level = slog.LevelWarn
		}
	case contract.EventRetry:
		level, msg = slog.LevelInfo, "next connect attempt after "+e.Delay.String()
	case contract.EventMediaFailed:
		level, msg = slog.LevelError, "capture track failed: "+e.ErrorName.String()
	case contract.EventStopped:
		level, msg = slog.LevelInfo, "session supervisor stopped"
	default:
		return
	}
	log.LogAttrs(ctx, level, msg, EventAttrs(e)...)
}

// LogEvents keeps tracker on the current session id and logs every event,
// until events is closed or ctx is done. Give it its own Bus subscription.
// tracker may be nil.
func LogEvents(ctx context.Context, log *slog.Logger, tracker *SessionTracker, events <-chan contract.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if tracker != nil && e.Kind != 0 {
				if e.SessionID != "" {
					tracker.Set(e.SessionID)
				} else {
					tracker.Clear()
				}
			}
			LogEvent(ctx, log, e)
		}
	}
}
