package contract

import (
	"errors"
	"fmt"
)

// ErrorDetail narrows an error name down where the name alone would send
// people the wrong way: a refused token is serverConnectionFailed, like a
// pulled network cable, but it needs a call to support, not a look at the
// cable. The eight names stay the contract (docs/BEHAVIOUR.md section 2);
// a detail rides beside one of them, in the journal (ERROR_DETAIL), the
// status socket, the metrics and the LEDs.
//
// The set is small and closed: each detail belongs to one error name
// (Name) and has a documented staff hint. Add one only with its row in
// docs/BEHAVIOUR.md and the README's staff table.
type ErrorDetail int

const (
	NoDetail ErrorDetail = iota
	// DetailUnauthorized: the server refused the kiosk's credential (HTTP
	// 401 or 403 at the WebSocket upgrade, or the dialect's own refusal of
	// the token). Refines serverConnectionFailed.
	DetailUnauthorized
	// DetailClock: the server's certificate is not valid yet at a system
	// clock that reads before kioskd's build date, so the clock is wrong
	// (a board without a real-time clock before time sync), not the
	// network. Refines serverConnectionFailed; retried with backoff.
	DetailClock
)

var errorDetails = [...]struct {
	text string
	name ErrorName
}{
	NoDetail:           {"", NoError},
	DetailUnauthorized: {"unauthorized", ServerConnectionFailed},
	DetailClock:        {"clock", ServerConnectionFailed},
}

// AllErrorDetails lists every detail (NoDetail excluded).
var AllErrorDetails = []ErrorDetail{DetailUnauthorized, DetailClock}

func (d ErrorDetail) valid() bool { return d >= 0 && int(d) < len(errorDetails) }

// String is the detail as the journal, the status socket and the metrics
// spell it ("unauthorized"); "" for NoDetail.
func (d ErrorDetail) String() string {
	if !d.valid() {
		return fmt.Sprintf("ErrorDetail(%d)", int(d))
	}
	return errorDetails[d].text
}

// Name is the error name the detail refines (NoError for NoDetail).
func (d ErrorDetail) Name() ErrorName {
	if !d.valid() {
		return NoError
	}
	return errorDetails[d].name
}

// ParseErrorDetail maps a detail's text back to it; "" is NoDetail.
func ParseErrorDetail(s string) (ErrorDetail, bool) {
	if s == "" {
		return NoDetail, true
	}
	for _, d := range AllErrorDetails {
		if errorDetails[d].text == s {
			return d, true
		}
	}
	return NoDetail, false
}

// DescribeError is an error name with its detail, as people read it:
// "serverConnectionFailed (unauthorized)", or the name alone.
func DescribeError(n ErrorName, d ErrorDetail) string {
	if d == NoDetail {
		return n.String()
	}
	return n.String() + " (" + d.String() + ")"
}

// DetailOf returns the detail carried by err's ConnectError, or NoDetail.
func DetailOf(err error) ErrorDetail {
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce.Detail
	}
	return NoDetail
}
