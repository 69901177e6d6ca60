package leds

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("leds: controller closed")

// Controller shows the session's condition on the LEDs. It follows the
// session's events, picks each LED's pattern from the profile, hands
// blinking to the backend where the backend can blink by itself, and blinks
// the rest in software from one timer.
//
// Every backend call happens under one mutex, so Close from a signal handler
// can never interleave with a flash, and nothing is written after Close.
type Controller struct {
	profile Profile
	roles   []string
	backend Backend
	clk     clock.Clock
	log     *slog.Logger

	running chan struct{} // closed when Run starts; guards a second Run
	done    chan struct{} // closed by Close
	wake    chan struct{} // a show started or ended (capacity 1)

	mu     sync.Mutex
	closed bool
	cond   Condition
	leds   []*ledState // in role order
	failed map[string]bool
	show   *Show // playing in place of cond, or nil
}

// ledState is one LED as the controller last drove it.
type ledState struct {
	name  string
	pat   Pattern
	set   bool      // pat has been applied at least once
	since time.Time // when pat was applied; the phase of a software pattern
	soft  bool      // the controller toggles it
	level bool      // soft: the level last written
	due   time.Time // soft: when the level next changes (zero: never)
}

// New returns a controller for the profile of cfg (the leds section) on
// backend; a section that cannot work is refused with config's own
// message. It touches no LED until Run (or Close). A nil clk is the wall
// clock and a nil log discards.
func New(cfg config.LEDs, backend Backend, clk clock.Clock, log *slog.Logger) (*Controller, error) {
	if backend == nil {
		return nil, errors.New("leds: nil backend")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("leds: %w", err)
	}
	p := Profile(cfg.Profile)
	if clk == nil {
		clk = clock.Real
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{
		profile: p,
		roles:   cfg.Roles(),
		backend: backend,
		clk:     clk,
		log:     log.With("component", "leds"),
		running: make(chan struct{}),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		cond:    Condition{State: contract.Disconnected},
		failed:  map[string]bool{},
	}
	for _, r := range c.roles {
		c.leds = append(c.leds, &ledState{name: r})
	}
	return c, nil
}

// Healthy reports whether the last write of every LED worked (the
// metrics' kioskd_leds_up): false from a failed write or batch until that
// LED is written successfully again.
func (c *Controller) Healthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.failed) == 0
}

// Condition is what the LEDs show now.
func (c *Controller) Condition() Condition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cond
}

// Run drives the LEDs from events until ctx is done, events is closed, or
// Close is called. It first puts the LEDs in a known state: all off, then
// Disconnected's pattern (whatever a previous process or the boot loader
// left on the lines is wiped). Run leaves the LEDs as they are when it
// returns; Close turns them off. It returns nil when ctx is done or events
// is closed, ErrClosed after Close. Call Run once.
func (c *Controller) Run(ctx context.Context, events <-chan contract.Event) error {
	select {
	case <-c.running:
		return errors.New("leds: Run called twice")
	default:
		close(c.running)
	}
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// arm (re)starts the single software timer for the earliest due LED, or
	// stops it when nothing is toggled in software. It runs after the
	// backend calls of a change, so a test that waits for the timer to be
	// armed knows those calls are done.
	arm := func(next time.Time) {
		if next.IsZero() {
			if timer != nil {
				stopTimer(timer)
			}
			return
		}
		d := max(next.Sub(c.clk.Now()), 0)
		if timer == nil {
			timer = c.clk.NewTimer(d)
			return
		}
		timer.Reset(d)
	}
	tick := func() <-chan time.Time {
		if timer == nil {
			return nil
		}
		return timer.C()
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	now := c.clk.Now()
	c.begin()
	for _, l := range c.leds {
		c.write(l.name, false) // known state: every line driven dark
		*l = ledState{name: l.name, pat: Off, set: true, since: now}
	}
	c.end()
	next := c.refreshLocked(now, true)
	c.mu.Unlock()
	arm(next)

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.done:
			return ErrClosed
		case e, ok := <-events:
			if !ok {
				return nil
			}
			if timer != nil {
				stopTimer(timer) // before any write; see arm
			}
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				return ErrClosed
			}
			prev := c.cond
			c.cond = c.cond.Next(e)
			if c.cond != prev {
				c.log.Debug("leds condition", "from", prev.String(), "to", c.cond.String(), "event", e.Kind.String())
			}
			next := c.refreshLocked(c.clk.Now(), true)
			c.mu.Unlock()
			arm(next)
		case <-c.wake:
			if timer != nil {
				stopTimer(timer)
			}
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				return ErrClosed
			}
			next := c.refreshLocked(c.clk.Now(), true)
			c.mu.Unlock()
			arm(next)
		case <-tick():
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				return ErrClosed
			}
			next := c.refreshLocked(c.clk.Now(), false)
			c.mu.Unlock()
			arm(next)
		}
	}
}

// stopTimer stops t and drops a tick it may already hold, so a stale tick
// never wakes the loop after a change re-armed it.
func stopTimer(t clock.Timer) {
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
}

// refreshLocked moves every LED to its pattern under c.cond (if apply),
// then writes every software LED that is due, and returns when the next
// software toggle is due (zero: none). An LED whose pattern is unchanged is
// left alone, so its blink keeps its phase. Toggling here too, not only on
// a tick, keeps the timing right when a tick and an event arrive together
// and the event's stopTimer swallowed the tick.
func (c *Controller) refreshLocked(now time.Time, apply bool) time.Time {
	// A show (identify, lamp test) takes the place of the condition; its
	// steps change on the same timer as the software blinking. A new step
	// is announced once its calls are made.
	had := c.show
	showPats, showEnd, announce := c.showStepLocked(now)
	if announce != nil {
		defer announce()
	}
	c.begin()
	defer c.end()
	if c.show != had || showPats != nil {
		apply = true // a show began, moved on or ended (unchanged patterns are skipped below)
	}
	if apply {
		pats := c.profile.Patterns(c.cond)
		pats[config.LEDTalk] = c.cond.Talk() // driven only where configured (c.leds)
		if showPats != nil {
			pats = showPats
		}
		for _, l := range c.leds {
			p := pats[l.name]
			if l.set && p == l.pat {
				continue
			}
			c.log.Debug("led pattern", "led", l.name, "pattern", p.String())
			*l = ledState{name: l.name, pat: p, set: true, since: now}
			c.start(l, now)
		}
	}
	// A late wake-up computes the level from the time elapsed since the
	// pattern began, so it lands in the right phase rather than shifting
	// the rest of the pattern.
	for _, l := range c.leds {
		if !l.soft || l.due.IsZero() || now.Before(l.due) {
			continue
		}
		on, next := l.pat.At(now.Sub(l.since))
		if on != l.level {
			l.level = on
			c.write(l.name, on)
		}
		l.due = now.Add(next)
	}
	next := c.nextDue()
	if !showEnd.IsZero() && (next.IsZero() || showEnd.Before(next)) {
		next = showEnd
	}
	return next
}

// start shows l.pat from now: a steady level, a blink or code the backend
// runs itself, or the first level of a software-driven pattern.
func (c *Controller) start(l *ledState, now time.Time) {
	var err error
	switch l.pat.Kind() {
	case KindOff, KindOn:
		c.write(l.name, l.pat.Kind() == KindOn)
		return
	case KindBlink:
		if b, ok := c.backend.(Blinker); ok {
			h := l.pat.HalfPeriod()
			if err = b.Blink(l.name, h, h); err == nil {
				c.recovered(l.name)
				return
			}
		}
	case KindCode:
		if b, ok := c.backend.(CodeBlinker); ok {
			if err = b.BlinkCode(l.name, l.pat.N(), l.pat.FlashOn(), CodeOff, CodePause); err == nil {
				c.recovered(l.name)
				return
			}
		}
	}
	if err != nil && !errors.Is(err, ErrNotSupported) {
		// The backend tried and failed; software blinking through Set may
		// still work, and a blinking LED beats a frozen one.
		c.failure(l.name, fmt.Errorf("delegated %s: %w", l.pat, err))
	}
	l.soft = true
	on, next := l.pat.At(0)
	l.level = on
	c.write(l.name, on)
	if next > 0 {
		l.due = now.Add(next)
	}
}

func (c *Controller) nextDue() time.Time {
	var next time.Time
	for _, l := range c.leds {
		if l.soft && !l.due.IsZero() && (next.IsZero() || l.due.Before(next)) {
			next = l.due
		}
	}
	return next
}

func (c *Controller) begin() {
	if b, ok := c.backend.(Batcher); ok {
		b.Begin()
	}
}

func (c *Controller) end() {
	if b, ok := c.backend.(Batcher); ok {
		if err := b.End(); err != nil {
			c.failure("*", err)
			return
		}
		c.recovered("*")
	}
}

// write sets one LED and logs a failure once, not at every flash.
func (c *Controller) write(name string, on bool) {
	if err := c.backend.Set(name, on); err != nil {
		c.failure(name, err)
		return
	}
	c.recovered(name)
}

func (c *Controller) failure(name string, err error) {
	if !c.failed[name] {
		c.failed[name] = true
		c.log.Error("LED write failed", "led", name, "err", err)
	}
}

func (c *Controller) recovered(name string) {
	if c.failed[name] {
		delete(c.failed, name)
		c.log.Info("LED writes work again", "led", name)
	}
}

// Close turns every LED off, closes the backend and stops Run. The daemon
// calls it on SIGTERM and on a fatal error. It is safe to call more than
// once and from any goroutine; later calls return nil.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.show != nil {
		c.endShowLocked(ErrClosed)
	}
	var errs []error
	c.begin()
	for _, l := range c.leds {
		if err := c.backend.Set(l.name, false); err != nil {
			errs = append(errs, fmt.Errorf("leds: turning %s off: %w", l.name, err))
		}
	}
	if b, ok := c.backend.(Batcher); ok {
		if err := b.End(); err != nil {
			errs = append(errs, fmt.Errorf("leds: turning LEDs off: %w", err))
		}
	}
	if err := c.backend.Close(); err != nil {
		errs = append(errs, fmt.Errorf("leds: closing backend: %w", err))
	}
	close(c.done)
	return errors.Join(errs...)
}
