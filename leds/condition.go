package leds

import (
	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
)

// Profile is a wiring of LEDs to meanings (docs/BEHAVIOUR.md section 8),
// named by leds.profile. Its LEDs and their names are config's
// (config.ProfileLines); this package gives them their patterns.
type Profile string

const (
	// Traffic is three LEDs: red, amber, green.
	Traffic Profile = config.ProfileTraffic
	// Bar is one LED per connection step, step1..step4.
	Bar Profile = config.ProfileBar
)

// Roles lists the profile's LEDs in display order; they are the keys of
// leds.lines and the names the controller passes to a Backend. Unknown
// profiles have none.
func (p Profile) Roles() []string {
	return config.ProfileLines(string(p))
}

// errorRole is the LED that shows an error code: red in traffic (red means
// "not connected, look at me"), the first step in bar (the only LED that is
// dark while Disconnected, so a code cannot be mistaken for progress).
func (p Profile) errorRole() string {
	if r := p.Roles(); len(r) > 0 {
		return r[0]
	}
	return ""
}

// Condition is what the LEDs show: the connection state, overlaid by an error
// code while the session waits after a failure, or nothing once stopped.
type Condition struct {
	State   contract.ConnectionState
	Err     contract.ErrorName // NoError unless waiting after a failure
	Stopped bool               // the supervisor stopped for good: all off

	// Detail narrows Err down; DetailUnauthorized flashes the code long
	// (CodeLong): the staff table's "call support" line.
	Detail contract.ErrorDetail

	// Conversation is what the Digital Person is doing, for the optional
	// talk LED (Talk).
	Conversation contract.ConversationState
}

func (c Condition) String() string {
	switch {
	case c.Stopped:
		return "stopped"
	case c.Err != contract.NoError:
		return c.State.String() + "+" + contract.DescribeError(c.Err, c.Detail)
	}
	return c.State.String()
}

// Next is the condition after e.
//
// Only EventState moves the state: the State field of other kinds is the
// publisher's copy and a zero there would read as Disconnected. A failure
// (EventConnectFailed, EventMediaFailed) sets the error code; it stays until
// an EventState leaves Disconnected, that is until the next attempt is
// visibly under way. EventState(Disconnected) does not clear it, because the
// failure and the fall back to Disconnected arrive in either order.
// EventStopped turns everything off until a later EventState shows the
// session running again.
func (c Condition) Next(e contract.Event) Condition {
	switch e.Kind {
	case contract.EventState:
		c.State = e.State
		c.Stopped = false
		if e.State != contract.Disconnected {
			c.Err, c.Detail = contract.NoError, contract.NoDetail
		}
	case contract.EventConnectFailed:
		if e.ErrorName != contract.NoError {
			c.Err, c.Detail = e.ErrorName, e.ErrorDetail
		}
	case contract.EventMediaFailed:
		// A failed capture track is mediaStreamFailed even if the publisher
		// left Err empty (docs/BEHAVIOUR.md section 7: it shows on the LEDs).
		c.Err, c.Detail = e.ErrorName, e.ErrorDetail
		if c.Err == contract.NoError {
			c.Err, c.Detail = contract.MediaStreamFailed, contract.NoDetail
		}
	case contract.EventConversation:
		c.Conversation = e.Conversation
	case contract.EventStopped:
		c = Condition{State: contract.Disconnected, Stopped: true}
	}
	return c
}

// TalkHz is the talk LED's blink while the Digital Person thinks.
const TalkHz = 2

// Talk is the pattern of the optional talk LED (config.LEDTalk): steady
// while the Digital Person listens (the visitor can speak: the kiosk hears
// them), blinking while it thinks, off while it speaks, is idle or starting,
// or publishes nothing, and when stopped. It shows only what the DP says it
// does; the connection state is the profile's LEDs'.
func (c Condition) Talk() Pattern {
	if c.Stopped {
		return Off
	}
	switch c.Conversation {
	case contract.ConversationListening:
		return On
	case contract.ConversationThinking:
		return Blink(TalkHz)
	}
	return Off
}

// Patterns maps every role of p to its pattern under c. Unknown profiles give
// an empty map.
//
// traffic: Disconnected red on; Searching amber 1 Hz; DownloadingAssets amber
// 4 Hz; ConnectingToDigitalPerson green 2 Hz; Connected green on.
// bar: LEDs 1..currentStep on, the next one blinking at 2 Hz; Disconnected all off.
// Both: an error code replaces the pattern of the first LED (red, step1),
// in long flashes when its detail is unauthorized (errorCode);
// stopped is all off. A state outside docs/BEHAVIOUR.md section 1 shows as
// Disconnected.
func (p Profile) Patterns(c Condition) map[string]Pattern {
	roles := p.Roles()
	m := make(map[string]Pattern, len(roles))
	for _, r := range roles {
		m[r] = Off
	}
	if c.Stopped || len(roles) == 0 {
		return m
	}
	state := c.State
	if state < contract.Disconnected || state > contract.Connected {
		state = contract.Disconnected
	}
	switch p {
	case Traffic:
		red, amber, green := roles[0], roles[1], roles[2]
		switch state {
		case contract.Disconnected:
			m[red] = On
		case contract.SearchingForDigitalPerson:
			m[amber] = Blink(1)
		case contract.DownloadingAssets:
			m[amber] = Blink(4)
		case contract.ConnectingToDigitalPerson:
			m[green] = Blink(2)
		case contract.Connected:
			m[green] = On
		}
	case Bar:
		step := state.Step()
		for i, r := range roles {
			switch {
			case i < step:
				m[r] = On
			case i == step && step > 0:
				m[r] = Blink(2) // the step in progress
			}
		}
	}
	if n := c.Err.Code(); n > 0 {
		m[p.errorRole()] = errorCode(n, c.Detail)
	}
	return m
}

// errorCode is the pattern of error code n: n short flashes, or n long
// ones when the detail sends staff elsewhere than the code's own table
// line (a refused credential: call support, not the network cable).
func errorCode(n int, d contract.ErrorDetail) Pattern {
	if d == contract.DetailUnauthorized {
		return CodeLong(n)
	}
	return Code(n)
}
