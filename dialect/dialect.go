// Package dialect is the boundary between the session supervisor and the
// signalling dialects that reach a Digital Person server (docs/BEHAVIOUR.md
// section 6).
//
// The supervisor (package session) owns everything the behaviour contract
// promises whatever the dialect: the reactions to errors and disconnects,
// backoff, persistence, the connect deadlines, liveness and the events
// everyone else observes. A dialect owns one thing: a call, from dialling
// the server to the end of the conversation, mapped onto the states,
// error names and disconnect reasons of docs/BEHAVIOUR.md sections 1 to 3.
// So a new dialect (kioskd's own kioskd.dp.v1 in dialect/dpv1; LiveKit
// next) is a new implementation of Dialect, and touches no supervisor,
// LED, log or status code.
//
// This package imports only contract, pion and the standard library, so
// that the supervisor can drive a dialect without knowing any of them.
package dialect

import (
	"context"
	"log/slog"
	"time"

	"github.com/kioskd/kioskd/contract"
)

// Dialect is one way of speaking to a Digital Person server.
type Dialect interface {
	// Name identifies the dialect in logs and in the configuration
	// (server.dialect): "kioskd" for kioskd.dp.v1.
	Name() string
	// Server identifies the server the dialect reaches (for kioskd.dp.v1
	// its URL). The supervisor stores it beside a session id and resumes
	// a stored session only on the server that gave it
	// (docs/BEHAVIOUR.md section 4).
	Server() string
	// Start begins one call and returns at once; the call runs until it
	// ends by itself, Abort is called, or ctx is cancelled. Cancelling
	// ctx is kioskd's own shutdown: the call tells the server it is
	// closing normally and ends with ByUs set.
	Start(ctx context.Context, a Attempt) Call
}

// Attempt is what the supervisor gives one call. Media and Report are
// always set.
type Attempt struct {
	// Resume is the stored session to resume on Server(); "" asks for a
	// fresh session.
	Resume string
	// Media is the kiosk's camera, microphone and speaker, as a call
	// sees them.
	Media Media
	// Report hears what the call learns, as it learns it.
	Report Reporter
	// Log is the supervisor's logger; nil discards.
	Log *slog.Logger
}

// Reporter hears a call's progress. A dialect calls it from the call's
// own goroutine, in order; each report is handled synchronously (published
// and logged before the method returns), and a Reporter method never calls
// back into the call.
//
// The supervisor is the one implementation.
type Reporter interface {
	// State reports each connection state change (docs/BEHAVIOUR.md
	// section 1), forward only, up to Connected. Never Disconnected: the
	// supervisor reports that itself, with how the call ended.
	State(st contract.ConnectionState)
	// Session reports the session id as soon as the server names it, and
	// whether it is the one the Attempt asked to resume.
	Session(id string, resumed bool)
	// Queue reports the kiosk's position in the server's queue while
	// searching for a Digital Person (0: not queued).
	Queue(pos int)
	// Conversation reports each change of what the Digital Person is
	// doing (idle, listening, thinking, speaking), as far as its server
	// tells (LiveKit: the DP's lk.agent.state attribute; kioskd.dp.v1:
	// conversation_state). A dialect whose DP publishes nothing never
	// calls it; the supervisor returns it to ConversationNone when the
	// call ends, so a dialect need not.
	Conversation(c contract.ConversationState)
	// PathRestart reports the end of an in-call repair of the media path
	// (a network change or a lost path: kioskd.dp.v1's ICE restart,
	// LiveKit's in-call resume), which the contract's states do not show:
	// recovered after took, or failed (the call then ends with
	// controlDisconnected). The dialect logs the details itself.
	PathRestart(recovered bool, took time.Duration)
}

// Call is one attempt to reach a Digital Person, from the dial to the end
// of the session.
type Call interface {
	// Done is closed when the call has ended and released everything
	// (its PeerConnection, its control channel, the tracks it was handed
	// by Media.HandleTrack have returned).
	Done() <-chan struct{}
	// Result says how the call ended; it waits for Done.
	Result() Result
	// Abort ends a call that is not Connected yet, because the supervisor's
	// deadline for a step or for the whole connect has passed. The
	// dialect tells its server what it can (kioskd.dp.v1 sends close with
	// name) and the call ends with a ConnectError of name and cause. It
	// returns at once; Done says when the call has ended. A call that is
	// Connected by the time it sees the Abort ignores it: the deadline
	// raced the last step and lost.
	Abort(name contract.ErrorName, cause error)
}

// Result is how a call ended (docs/BEHAVIOUR.md sections 2 and 3).
type Result struct {
	// Err is set when the call failed before Connected.
	Err *contract.ConnectError
	// Reason is set when a Connected call ended.
	Reason contract.DisconnectReason
	// ByUs: kioskd ended it itself (shutdown), not the server.
	ByUs bool
	// MediaErr: after Connected, a failure of ours ended it (a capture
	// track, or ICE/DTLS): mediaStreamFailed; the session stays resumable.
	MediaErr error
	// TakenOver: after Connected the server gave the session to another
	// connection (kioskd.dp.v1: close noSessionToResume); forget it and
	// start afresh.
	TakenOver bool
	// SessionID is the session the server named ("" if none yet);
	// Resumed says it was the one the Attempt asked for.
	SessionID string
	Resumed   bool
	// Connected is when the call reached Connected (zero if it never
	// did); Ended is when it ended.
	Connected time.Time
	Ended     time.Time
}
