package contract

import (
	"errors"
	"fmt"
)

// ErrorName is the name of a failed connect (docs/BEHAVIOUR.md section 2). Its number is
// the position in that table, which is also the red blink count on the LEDs.
type ErrorName int

const (
	NoError ErrorName = iota
	NoUserMedia
	NoScene
	ServerConnectionFailed
	NotSupported
	MediaStreamFailed
	SessionTimeout
	ControlFailed
	NoSessionToResume
)

var errorNames = [...]string{
	NoError:                "",
	NoUserMedia:            "noUserMedia",
	NoScene:                "noScene",
	ServerConnectionFailed: "serverConnectionFailed",
	NotSupported:           "notSupported",
	MediaStreamFailed:      "mediaStreamFailed",
	SessionTimeout:         "sessionTimeout",
	ControlFailed:          "controlFailed",
	NoSessionToResume:      "noSessionToResume",
}

// AllErrorNames lists the eight error names in table order.
var AllErrorNames = []ErrorName{NoUserMedia, NoScene, ServerConnectionFailed, NotSupported, MediaStreamFailed, SessionTimeout, ControlFailed, NoSessionToResume}

func (n ErrorName) String() string {
	if n < 0 || int(n) >= len(errorNames) {
		return fmt.Sprintf("ErrorName(%d)", int(n))
	}
	return errorNames[n]
}

// Code is the error's number in docs/BEHAVIOUR.md section 2 (1 = noUserMedia … 8 = noSessionToResume).
func (n ErrorName) Code() int { return int(n) }

// ParseErrorName maps a wire name to an ErrorName.
func ParseErrorName(s string) (ErrorName, bool) {
	for _, n := range AllErrorNames {
		if errorNames[n] == s {
			return n, true
		}
	}
	return NoError, false
}

// ConnectError is a failed connect. Use errors.As to get it from any error
// the session returns, and its Name to decide what to do.
type ConnectError struct {
	Name   ErrorName
	Detail ErrorDetail // NoDetail, or what narrows Name down (detail.go)
	Err    error       // the cause, for the log; may be nil
}

func (e *ConnectError) Error() string {
	if e.Err == nil {
		return e.Name.String()
	}
	return e.Name.String() + ": " + e.Err.Error()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrNoScene) and friends match on the name alone,
// and errors.Is(err, ErrUnauthorized) on the name and its detail.
func (e *ConnectError) Is(target error) bool {
	var t *ConnectError
	if errors.As(target, &t) {
		return t.Name == e.Name && t.Err == nil && (t.Detail == NoDetail || t.Detail == e.Detail)
	}
	return false
}

// NewConnectError wraps cause under name.
func NewConnectError(name ErrorName, cause error) *ConnectError {
	return &ConnectError{Name: name, Err: cause}
}

// NewConnectErrorDetail wraps cause under name with a detail.
func NewConnectErrorDetail(name ErrorName, detail ErrorDetail, cause error) *ConnectError {
	return &ConnectError{Name: name, Detail: detail, Err: cause}
}

// Sentinels to compare with errors.Is.
var (
	ErrNoUserMedia            = &ConnectError{Name: NoUserMedia}
	ErrNoScene                = &ConnectError{Name: NoScene}
	ErrServerConnectionFailed = &ConnectError{Name: ServerConnectionFailed}
	ErrNotSupported           = &ConnectError{Name: NotSupported}
	ErrMediaStreamFailed      = &ConnectError{Name: MediaStreamFailed}
	ErrSessionTimeout         = &ConnectError{Name: SessionTimeout}
	ErrControlFailed          = &ConnectError{Name: ControlFailed}
	ErrNoSessionToResume      = &ConnectError{Name: NoSessionToResume}

	// ErrUnauthorized is serverConnectionFailed with DetailUnauthorized.
	ErrUnauthorized = &ConnectError{Name: ServerConnectionFailed, Detail: DetailUnauthorized}
)

// NameOf returns the ErrorName carried by err, or NoError.
func NameOf(err error) ErrorName {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce.Name
	}
	return NoError
}

// DisconnectReason says why a Connected session ended (docs/BEHAVIOUR.md section 3).
type DisconnectReason int

const (
	NoReason DisconnectReason = iota
	ReasonSessionTimeout
	ReasonConversationEnded
	ReasonControlDisconnected
	ReasonNormal
)

var reasonNames = [...]string{
	NoReason:                  "",
	ReasonSessionTimeout:      "sessionTimeout",
	ReasonConversationEnded:   "conversationEnded",
	ReasonControlDisconnected: "controlDisconnected",
	ReasonNormal:              "normal",
}

// AllDisconnectReasons lists the four reasons in table order.
var AllDisconnectReasons = []DisconnectReason{ReasonSessionTimeout, ReasonConversationEnded, ReasonControlDisconnected, ReasonNormal}

func (r DisconnectReason) String() string {
	if r < 0 || int(r) >= len(reasonNames) {
		return fmt.Sprintf("DisconnectReason(%d)", int(r))
	}
	return reasonNames[r]
}

// ParseDisconnectReason maps a wire name to a DisconnectReason.
func ParseDisconnectReason(s string) (DisconnectReason, bool) {
	for _, r := range AllDisconnectReasons {
		if reasonNames[r] == s {
			return r, true
		}
	}
	return NoReason, false
}
