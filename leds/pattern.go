package leds

import (
	"fmt"
	"strconv"
	"time"
)

// Timing of an error code. A staff member counts the flashes, so each flash is
// short and evenly spaced, and the pause is clearly longer than a gap so the
// count restarts in an obvious place.
const (
	CodeOn    = 250 * time.Millisecond  // a flash
	CodeOff   = 250 * time.Millisecond  // the gap after each flash
	CodePause = 1500 * time.Millisecond // the pause after the last gap, before the count repeats

	// CodeLongOn is a flash of a long code (CodeLong): the same count and
	// gaps, each flash three times as long, so staff tell at a glance an
	// error that sends them elsewhere (a refused credential: call support)
	// from the same count of short flashes (the network).
	CodeLongOn = 750 * time.Millisecond
)

// PatternKind says how an LED behaves.
type PatternKind uint8

const (
	KindOff   PatternKind = iota // dark
	KindOn                       // lit
	KindBlink                    // square wave, 50% duty
	KindCode                     // N flashes, then a pause, repeated
)

// Pattern is what one LED shows. The zero value is Off. Patterns are
// comparable with ==, which the controller uses to leave an LED whose pattern
// did not change alone (so a blink keeps its phase across unrelated events).
type Pattern struct {
	kind PatternKind
	hz   float64 // KindBlink
	n    int     // KindCode
	long bool    // KindCode: flashes of CodeLongOn
}

// Off and On are the steady patterns.
var (
	Off = Pattern{kind: KindOff}
	On  = Pattern{kind: KindOn}
)

// Blink is a square wave of hz flashes a second, lit half the time.
// hz <= 0 is Off: an LED that never flashes is dark.
func Blink(hz float64) Pattern {
	if !(hz > 0) {
		return Off
	}
	return Pattern{kind: KindBlink, hz: hz}
}

// Code flashes n times (CodeOn lit, CodeOff dark), stays dark for CodePause,
// and repeats. n <= 0 is Off.
func Code(n int) Pattern {
	if n <= 0 {
		return Off
	}
	return Pattern{kind: KindCode, n: n}
}

// CodeLong is Code(n) with flashes of CodeLongOn: the same count, a
// rhythm of its own. n <= 0 is Off.
func CodeLong(n int) Pattern {
	if n <= 0 {
		return Off
	}
	return Pattern{kind: KindCode, n: n, long: true}
}

// Kind is the pattern's kind.
func (p Pattern) Kind() PatternKind { return p.kind }

// Hz is the frequency of a Blink, 0 otherwise.
func (p Pattern) Hz() float64 { return p.hz }

// N is the flash count of a Code, 0 otherwise.
func (p Pattern) N() int { return p.n }

// Long reports whether a Code flashes long (CodeLong).
func (p Pattern) Long() bool { return p.long }

// FlashOn is how long each flash of a Code is lit: CodeOn, or CodeLongOn
// for CodeLong; 0 for other kinds.
func (p Pattern) FlashOn() time.Duration {
	switch {
	case p.kind != KindCode:
		return 0
	case p.long:
		return CodeLongOn
	}
	return CodeOn
}

// HalfPeriod is how long a Blink stays lit (and dark), 0 for other kinds.
func (p Pattern) HalfPeriod() time.Duration {
	if p.kind != KindBlink {
		return 0
	}
	return time.Duration(float64(time.Second) / (2 * p.hz))
}

// Steady reports whether the pattern never changes (Off or On).
func (p Pattern) Steady() bool { return p.kind == KindOff || p.kind == KindOn }

func (p Pattern) String() string {
	switch p.kind {
	case KindOff:
		return "off"
	case KindOn:
		return "on"
	case KindBlink:
		return "blink " + strconv.FormatFloat(p.hz, 'f', -1, 64) + "Hz"
	case KindCode:
		if p.long {
			return "code " + strconv.Itoa(p.n) + " long"
		}
		return "code " + strconv.Itoa(p.n)
	}
	return fmt.Sprintf("Pattern(%d)", p.kind)
}

// step is one stretch of a pattern's cycle.
type step struct {
	on  bool
	dur time.Duration
}

// cycle is one period of the pattern; steady patterns have a single step of
// zero length. Neighbouring steps always differ in level, so every step
// boundary is a real change of the LED.
func (p Pattern) cycle() []step {
	switch p.kind {
	case KindOn:
		return []step{{on: true}}
	case KindBlink:
		h := p.HalfPeriod()
		return []step{{true, h}, {false, h}}
	case KindCode:
		s := make([]step, 0, 2*p.n)
		for i := 0; i < p.n; i++ {
			off := CodeOff
			if i == p.n-1 {
				off += CodePause // the last gap and the pause are one dark stretch
			}
			s = append(s, step{true, p.FlashOn()}, step{false, off})
		}
		return s
	default:
		return []step{{on: false}}
	}
}

// Period is the length of one cycle, 0 for steady patterns.
func (p Pattern) Period() time.Duration {
	var t time.Duration
	for _, s := range p.cycle() {
		t += s.dur
	}
	return t
}

// At returns whether the LED is lit elapsed after the pattern started, and how
// long until it next changes (0: never). Every pattern starts lit unless it is
// Off, so a new condition is visible at once.
//
// The software driver computes the level from the elapsed time instead of
// counting toggles, so a late wake-up (a busy CPU, a suspended VM) lands in
// the right phase instead of drifting.
func (p Pattern) At(elapsed time.Duration) (on bool, next time.Duration) {
	c := p.cycle()
	period := p.Period()
	if period <= 0 {
		return c[0].on, 0
	}
	if elapsed < 0 {
		elapsed = 0
	}
	pos := elapsed % period
	for _, s := range c {
		if pos < s.dur {
			return s.on, s.dur - pos
		}
		pos -= s.dur
	}
	return c[0].on, c[0].dur // not reached: pos < period
}
