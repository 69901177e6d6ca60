package leds

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
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

// Backend names for Config.Backend.
const (
	BackendGPIO     = "gpio"
	BackendLEDClass = "ledclass"
	BackendConsole  = "console"
	BackendNone     = "none"
)

// Backends lists the backend names Open knows.
var Backends = []string{BackendGPIO, BackendLEDClass, BackendConsole, BackendNone}

// DefaultLEDClassRoot is where the kernel lists its LEDs.
const DefaultLEDClassRoot = "/sys/class/leds"

// Config is the leds section of the configuration (SPEC section 13).
type Config struct {
	Backend string `yaml:"backend"` // gpio | ledclass | console | none; "" is none
	Profile string `yaml:"profile"` // traffic | bar; "" is traffic
	// Lines maps each role of the profile to a GPIO line name (gpio) or an
	// LED name under LEDClassRoot (ledclass). Unused by console and none.
	Lines        map[string]string `yaml:"lines"`
	ActiveLow    bool              `yaml:"active_low"`    // gpio: a low line lights the LED
	LEDClassRoot string            `yaml:"ledclass_root"` // "" is /sys/class/leds
}

// withDefaults fills the empty fields the way SPEC section 13 documents them.
func (c Config) withDefaults() Config {
	if c.Backend == "" {
		c.Backend = BackendNone
	}
	if c.Profile == "" {
		c.Profile = string(Traffic)
	}
	if c.LEDClassRoot == "" {
		c.LEDClassRoot = DefaultLEDClassRoot
	}
	return c
}

// Validate checks the configuration without touching any device, so
// `kioskd check-config` can run on a workstation. Errors name the key.
func (c Config) Validate() error {
	c = c.withDefaults()
	if !slices.Contains(Backends, c.Backend) {
		return fmt.Errorf("leds.backend: unknown backend %q (want %s)", c.Backend, strings.Join(Backends, ", "))
	}
	p, err := ParseProfile(c.Profile)
	if err != nil {
		return fmt.Errorf("leds.profile: unknown profile %q (want %s)", c.Profile, joinProfiles())
	}
	if c.Backend != BackendGPIO && c.Backend != BackendLEDClass {
		return nil // console and none need no wiring
	}
	roles := p.Roles()
	var errs []error
	for _, k := range sortedKeys(c.Lines) {
		if !slices.Contains(roles, k) {
			errs = append(errs, fmt.Errorf("leds.lines.%s: profile %s has no LED %q (its LEDs are %s)", k, p, k, strings.Join(roles, ", ")))
		}
	}
	usedBy := map[string]string{}
	for _, r := range roles {
		v, ok := c.Lines[r]
		switch {
		case !ok || strings.TrimSpace(v) == "":
			errs = append(errs, fmt.Errorf("leds.lines.%s: missing: profile %s needs a %s for each of %s", r, p, lineWord(c.Backend), strings.Join(roles, ", ")))
		case usedBy[v] != "":
			errs = append(errs, fmt.Errorf("leds.lines.%s: %q is already used by leds.lines.%s", r, v, usedBy[v]))
		default:
			usedBy[v] = r
		}
	}
	return errors.Join(errs...)
}

func lineWord(backend string) string {
	if backend == BackendLEDClass {
		return "LED name"
	}
	return "GPIO line name"
}

// Open validates cfg and opens its backend with the profile's roles as LED
// names. console writes to w (os.Stdout if nil). Hardware backends check
// every line or LED here, so a wrong name fails at start with an error that
// names it, not later at the first blink.
func Open(cfg Config, w io.Writer) (Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	roles := Profile(cfg.Profile).Roles()
	lines := make(map[string]string, len(roles))
	for _, r := range roles {
		lines[r] = cfg.Lines[r]
	}
	switch cfg.Backend {
	case BackendGPIO:
		return OpenGPIO(lines, cfg.ActiveLow)
	case BackendLEDClass:
		return OpenLEDClass(cfg.LEDClassRoot, lines)
	case BackendConsole:
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
