package leds

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/kioskd/kioskd/config"
)

// Backend drives named LEDs. The names are the keys the backend was opened
// with; the controller uses the profile's roles (red, amber, green or
// step1..step4). A Backend need not be safe for concurrent use: the
// Controller serialises every call.
type Backend interface {
	// Set lights (on) or darkens the LED, stopping any blinking it does by itself.
	Set(name string, on bool) error
	// Close releases the backend. It does not change the LEDs; the
	// Controller turns them off before it closes the backend.
	Close() error
}

// Blinker is implemented by a backend whose hardware (or kernel) blinks an
// LED by itself, so the blinking goes on while the daemon is busy or hung.
// A Blinker that cannot blink one particular LED returns an error wrapping
// ErrNotSupported; the controller then blinks that LED in software.
type Blinker interface {
	Blink(name string, on, off time.Duration) error
}

// CodeBlinker is implemented by a backend that shows an error code by itself:
// n flashes of on, each followed by off, then pause, repeated. Like Blinker,
// an error wrapping ErrNotSupported makes the controller fall back to
// software. The console implements it so the demo prints one line per change
// instead of one per flash.
type CodeBlinker interface {
	BlinkCode(name string, n int, on, off, pause time.Duration) error
}

// Batcher is implemented by a backend that shows several changes as one:
// the controller calls Begin before the calls of one change of condition
// (or one software flash) and End after them. The console uses it to print
// one line per change instead of one per LED.
type Batcher interface {
	Begin()
	End() error
}

// ErrNotSupported says a backend cannot do what was asked for this LED.
var ErrNotSupported = errors.New("not supported")

// Open opens the backend cfg names (leds.backend) with the profile's LEDs
// as names; a section that cannot work is refused with config's own
// message. console writes to w (os.Stdout if nil). Hardware backends check
// every line or LED here, so a wrong name fails at start with an error that
// names it, not later at the first blink.
func Open(cfg config.LEDs, w io.Writer) (Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("leds: %w", err)
	}
	roles := cfg.Roles()
	lines := make(map[string]string, len(roles))
	for _, r := range roles {
		lines[r] = cfg.Lines[r]
	}
	switch cfg.Backend {
	case config.BackendGPIO:
		return OpenGPIO(lines, cfg.ActiveLow)
	case config.BackendLEDClass:
		return OpenLEDClass(cfg.LEDClassRoot, lines)
	case config.BackendConsole:
		if w == nil {
			w = os.Stdout
		}
		return NewConsole(w, roles), nil
	default:
		return None{}, nil
	}
}

// sortedKeys gives map keys in a fixed order, so errors and device opening
// happen in the same order on every start.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
