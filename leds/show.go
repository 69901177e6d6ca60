package leds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
)

// Show errors, from Show.Err and the Controller's Play, Identify and LampTest.
var (
	// ErrShowReplaced: another show started before this one ended.
	ErrShowReplaced = errors.New("leds: another LED show (identify or lamp test) took over")
	// ErrBadIdentify: an identify duration outside (0, MaxIdentify].
	ErrBadIdentify = fmt.Errorf("leds: identify duration must be more than 0 and at most %v", MaxIdentify)
)

// IdentifyHz is the rhythm of `kioskd leds identify`: every LED of the
// profile flashes together, 2½ times a second. No condition looks like it
// (no state lights more than two LEDs at once, and none blinks two LEDs),
// so a technician picks the kiosk out of a row of twenty at a glance.
const IdentifyHz = 2.5

// DefaultIdentify is how long identify shows when no duration is given;
// MaxIdentify bounds it, so a forgotten identify ends by itself.
const (
	DefaultIdentify = 30 * time.Second
	MaxIdentify     = time.Hour
)

// Step is one stretch of a show: what each LED does and for how long.
// LEDs the map does not name are off.
type Step struct {
	Label    string
	Patterns map[string]Pattern
	For      time.Duration
}

// Describe says what the step shows, LED by LED in the profile's order,
// in words a technician compares with the LEDs: "red on, amber off,
// green off".
func (s Step) Describe(roles []string) string {
	parts := make([]string, 0, len(roles))
	for _, r := range roles {
		parts = append(parts, r+" "+s.Patterns[r].Describe())
	}
	return strings.Join(parts, ", ")
}

// Describe is the pattern in a technician's words.
func (p Pattern) Describe() string {
	switch p.kind {
	case KindOn:
		return "on"
	case KindBlink:
		return "blinks " + strconv.FormatFloat(p.hz, 'f', -1, 64) + "/s"
	case KindCode:
		return fmt.Sprintf("flashes %d×, pause", p.n)
	}
	return "off"
}

// Show is a sequence of steps the controller plays over the LEDs in place
// of the session's condition; when it ends (played through, cancelled,
// replaced, or the controller closed) the LEDs show the condition again.
type Show struct {
	steps    []Step
	roles    []string
	start    time.Time
	cur      int           // the step shown; -1 before the first
	progress chan int      // index of each step as it begins; closed at the end
	err      error         // why it ended early; read after progress is closed
	ended    chan struct{} // closed at the end, after err is set
}

// Progress delivers the index of each step as the LEDs begin to show it
// and is closed when the show ends. It never blocks the controller: it
// holds every step.
func (s *Show) Progress() <-chan int { return s.progress }

// Err is nil if the show played to its end; ErrShowReplaced, ErrClosed or
// context.Canceled if it was cut short. Valid once Progress is closed.
func (s *Show) Err() error {
	<-s.ended
	return s.err
}

// Start begins to play steps at once and returns the show; a show already
// playing ends with ErrShowReplaced. It may be called before Run: Run's
// first look is then the show's first step, so a lamp test of a stopped
// kiosk never flashes the Disconnected pattern first.
func (c *Controller) Start(steps []Step) (*Show, error) {
	if len(steps) == 0 {
		return nil, errors.New("leds: a show needs at least one step")
	}
	for i, s := range steps {
		if s.For <= 0 {
			return nil, fmt.Errorf("leds: show step %d (%s) lasts %v", i+1, s.Label, s.For)
		}
	}
	sh := &Show{steps: steps, roles: c.roles, cur: -1, progress: make(chan int, len(steps)), ended: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if c.show != nil {
		c.endShowLocked(ErrShowReplaced)
	}
	sh.start = c.clk.Now()
	c.show = sh
	c.mu.Unlock()
	c.poke()
	return sh, nil
}

// Cancel ends sh with context.Canceled if it is still playing; the LEDs
// show the condition again.
func (c *Controller) Cancel(sh *Show) {
	c.mu.Lock()
	if c.show == sh {
		c.endShowLocked(context.Canceled)
	}
	c.mu.Unlock()
	c.poke()
}

// endShowLocked ends the show in progress with err (nil: played through).
func (c *Controller) endShowLocked(err error) {
	sh := c.show
	c.show = nil
	sh.err = err
	close(sh.progress)
	close(sh.ended)
}

// poke wakes Run to apply a show that started or ended.
func (c *Controller) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// showStepLocked moves the show to the step due at now and returns its
// patterns (nil: no show, or it just ended), when its step ends, and, if
// the step is new, a func that announces it on Progress (never blocking:
// Progress holds every step, each index is sent once).
func (c *Controller) showStepLocked(now time.Time) (map[string]Pattern, time.Time, func()) {
	sh := c.show
	if sh == nil {
		return nil, time.Time{}, nil
	}
	end := sh.start
	for i, s := range sh.steps {
		end = end.Add(s.For)
		if !now.Before(end) {
			continue
		}
		var announce func()
		if i != sh.cur {
			sh.cur = i
			announce = func() { sh.progress <- i }
		}
		pats := make(map[string]Pattern, len(c.roles))
		for _, r := range c.roles {
			pats[r] = s.Patterns[r]
		}
		return pats, end, announce
	}
	c.endShowLocked(nil)
	return nil, time.Time{}, nil
}

// Play plays steps (Start) and follows the show (Follow).
func (c *Controller) Play(ctx context.Context, steps []Step, progress func(string)) error {
	sh, err := c.Start(steps)
	if err != nil {
		return err
	}
	return c.Follow(ctx, sh, progress)
}

// Follow calls progress with the line of each step of sh (Show.Line) as
// the LEDs begin to show it, and returns when the show ends: nil if it
// played through, ctx's error if ctx ended it (ctx cancels the show),
// ErrShowReplaced or ErrClosed if something else did. The LEDs then show
// the session's condition again.
func (c *Controller) Follow(ctx context.Context, sh *Show, progress func(string)) error {
	stop := context.AfterFunc(ctx, func() { c.Cancel(sh) })
	defer stop()
	for i := range sh.Progress() {
		if progress != nil {
			progress(sh.Line(i))
		}
	}
	err := sh.Err()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Identify flashes every LED together (IdentifyHz) for d, so a technician
// finds this kiosk, then shows the condition again. progress hears one line.
func (c *Controller) Identify(ctx context.Context, d time.Duration, progress func(string)) error {
	if d <= 0 || d > MaxIdentify {
		return ErrBadIdentify
	}
	return c.Play(ctx, []Step{identifyStep(c.roles, d)}, progress)
}

// LampTest shows every LED alone, all together, every state's pattern and
// every error code in turn (Profile.LampTest), then the condition again.
// progress hears one line per step, saying what the LEDs should show.
func (c *Controller) LampTest(ctx context.Context, progress func(string)) error {
	return c.Play(ctx, c.profile.lampTest(c.roles), progress)
}

// Line is step i as a technician reads it beside the LEDs: its number, what
// it is, how long it lasts and what each LED does.
func (s *Show) Line(i int) string {
	st := s.steps[i]
	return fmt.Sprintf("%2d/%d  %-36s %-5s %s", i+1, len(s.steps), st.Label, st.For, st.Describe(s.roles))
}

// IdentifyStep is identify's look for d: every LED of the profile at
// IdentifyHz, in phase.
func (p Profile) IdentifyStep(d time.Duration) Step { return identifyStep(p.Roles(), d) }

// IdentifyStepOf is IdentifyStep for every LED of a leds section: the
// profile's and the optional talk LED (config.LEDs.Roles).
func IdentifyStepOf(cfg config.LEDs, d time.Duration) Step { return identifyStep(cfg.Roles(), d) }

func identifyStep(roles []string, d time.Duration) Step {
	pats := map[string]Pattern{}
	for _, r := range roles {
		pats[r] = Blink(IdentifyHz)
	}
	return Step{Label: "identify: every LED flashes together", Patterns: pats, For: d}
}

// Lamp test timing: long enough to see a steady LED and a few flashes of
// the slowest blink (1 Hz); an error code shows for one whole cycle, so its
// flashes can be counted.
const (
	lampLED   = time.Second
	lampState = 2 * time.Second
)

// LampTest is the lamp test's steps for the profile: each LED alone, all
// LEDs, the pattern of each state (docs/BEHAVIOUR.md section 8), each error
// code while not connected, a media failure while Connected, and identify.
// About 50 s for traffic.
func (p Profile) LampTest() []Step { return p.lampTest(p.Roles()) }

// LampTestOf is the lamp test of a leds section: the profile's, with the
// optional talk LED alone, among every LED, and its look while the Digital
// Person thinks (config.LEDs.Roles).
func LampTestOf(cfg config.LEDs) []Step { return Profile(cfg.Profile).lampTest(cfg.Roles()) }

func (p Profile) lampTest(roles []string) []Step {
	var steps []Step
	for _, r := range roles {
		steps = append(steps, Step{Label: "LED " + r + " alone", Patterns: map[string]Pattern{r: On}, For: lampLED})
	}
	all := map[string]Pattern{}
	for _, r := range roles {
		all[r] = On
	}
	steps = append(steps, Step{Label: "every LED", Patterns: all, For: lampLED})
	for s := contract.Disconnected; s <= contract.Connected; s++ {
		steps = append(steps, Step{Label: "state " + s.String(), Patterns: p.Patterns(Condition{State: s}), For: lampState})
	}
	for _, e := range contract.AllErrorNames {
		n := e.Code()
		steps = append(steps, Step{Label: fmt.Sprintf("error %d %s", n, e), Patterns: p.Patterns(Condition{State: contract.Disconnected, Err: e}), For: Code(n).Period()})
	}
	mf := contract.MediaStreamFailed
	steps = append(steps, Step{Label: fmt.Sprintf("Connected, error %d %s", mf.Code(), mf),
		Patterns: p.Patterns(Condition{State: contract.Connected, Err: mf}), For: Code(mf.Code()).Period()})
	if slices.Contains(roles, config.LEDTalk) {
		c := Condition{State: contract.Connected, Conversation: contract.ConversationThinking}
		pats := p.Patterns(c)
		pats[config.LEDTalk] = c.Talk()
		steps = append(steps, Step{Label: "Connected, the Digital Person thinking", Patterns: pats, For: lampState})
	}
	id := identifyStep(roles, lampState)
	id.Label = "identify"
	return append(steps, id)
}
