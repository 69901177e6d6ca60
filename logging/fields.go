package logging

import (
	"context"
	"log/slog"

	"github.com/kioskd/kioskd/session"
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
func State(s session.ConnectionState) slog.Attr {
	d := s.Data()
	return slog.Attr{Value: slog.GroupValue(
		slog.String(KeyConnectionState, d.Name),
		slog.Int(KeyCurrentStep, d.CurrentStep),
		slog.Int(KeyPercentageLoaded, d.PercentageLoaded),
	)}
}

// ErrorName is the error_name attribute.
func ErrorName(n session.ErrorName) slog.Attr { return slog.String(KeyErrorName, n.String()) }

// DisconnectReason is the disconnect_reason attribute.
func DisconnectReason(r session.DisconnectReason) slog.Attr {
	return slog.String(KeyDisconnectReason, r.String())
}

// EventAttrs are the log fields of a session event.
func EventAttrs(e session.Event) []slog.Attr {
	as := make([]slog.Attr, 0, 8)
	if e.SessionID != "" {
		as = append(as, SessionID(e.SessionID))
	}
	as = append(as, State(e.State))
	switch e.Kind {
	case session.EventState:
		if e.State == session.Connected {
			as = append(as, slog.Bool("resumed", e.Resumed))
		}
	case session.EventQueue:
		as = append(as, slog.Int(KeyQueuePosition, e.QueuePosition))
	case session.EventConnectFailed, session.EventMediaFailed:
		as = append(as, ErrorName(e.Err), slog.Int(KeyAttempt, e.Attempt))
		if e.Cause != nil {
			as = append(as, slog.Any("error", e.Cause))
		}
	case session.EventDisconnected:
		as = append(as, DisconnectReason(e.Reason))
		if e.Reason == session.ReasonNormal {
			as = append(as, slog.Bool("by_us", e.ByUs))
		}
	case session.EventRetry:
		as = append(as, slog.Duration("delay", e.Delay), slog.Int(KeyAttempt, e.Attempt))
		if e.Err != session.NoError {
			as = append(as, ErrorName(e.Err))
		}
	}
	return as
}

// LogEvent writes one line for e (none for EventProgress, which only
// proves liveness).
func LogEvent(ctx context.Context, log *slog.Logger, e session.Event) {
	var level slog.Level
	var msg string
	switch e.Kind {
	case session.EventState:
		level, msg = slog.LevelInfo, "connection state "+e.State.String()
	case session.EventQueue:
		level, msg = slog.LevelInfo, "queued for a Digital Person"
	case session.EventConnectFailed:
		level, msg = slog.LevelWarn, "connect failed: "+e.Err.String()
	case session.EventDisconnected:
		level, msg = slog.LevelInfo, "session ended: "+e.Reason.String()
		if e.Reason == session.ReasonControlDisconnected {
			level = slog.LevelWarn
		}
	case session.EventRetry:
		level, msg = slog.LevelInfo, "next connect attempt after "+e.Delay.String()
	case session.EventMediaFailed:
		level, msg = slog.LevelError, "capture track failed: "+e.Err.String()
	case session.EventStopped:
		level, msg = slog.LevelInfo, "session supervisor stopped"
	default:
		return
	}
	log.LogAttrs(ctx, level, msg, EventAttrs(e)...)
}

// LogEvents keeps tracker on the current session id and logs every event,
// until events is closed or ctx is done. Give it its own Bus subscription.
// tracker may be nil.
func LogEvents(ctx context.Context, log *slog.Logger, tracker *SessionTracker, events <-chan session.Event) {
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
