// Package clocktest is a fake clock.Clock whose time moves only when a test
// calls Advance.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/kioskd/kioskd/internal/clock"
)

// Clock is a fake clock. The zero value is not usable; call New.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
	added   chan struct{} // signalled whenever a timer or ticker is armed
}

type waiter struct {
	at     time.Time
	period time.Duration // > 0 for tickers
	c      chan time.Time
	active bool
}

// New returns a fake clock set to start.
func New(start time.Time) *Clock {
	return &Clock{now: start, added: make(chan struct{}, 1)}
}

var _ clock.Clock = (*Clock)(nil)

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) arm(w *waiter, d time.Duration) {
	c.mu.Lock()
	w.at = c.now.Add(d)
	if !w.active {
		w.active = true
		c.waiters = append(c.waiters, w)
	}
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
}

func (c *Clock) disarm(w *waiter) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := w.active
	w.active = false
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			break
		}
	}
	return was
}

func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := &fakeTimer{c: c, w: &waiter{c: make(chan time.Time, 1)}}
	c.arm(t.w, d)
	return t
}

func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	t := &fakeTicker{c: c, w: &waiter{c: make(chan time.Time, 1), period: d}}
	c.arm(t.w, d)
	return t
}

// Advance moves time forward by d, firing every timer and ticker due on the way.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.waiters, func(i, j int) bool { return c.waiters[i].at.Before(c.waiters[j].at) })
		if len(c.waiters) == 0 || c.waiters[0].at.After(end) {
			break
		}
		w := c.waiters[0]
		c.now = w.at
		select {
		case w.c <- c.now:
		default: // like time.Ticker, drop a tick nobody read
		}
		if w.period > 0 {
			w.at = w.at.Add(w.period)
		} else {
			w.active = false
			c.waiters = c.waiters[1:]
		}
	}
	c.now = end
	c.mu.Unlock()
}

// Waiters is how many timers and tickers are armed.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// BlockUntil waits until at least n timers or tickers are armed, so a test can
// advance time knowing the code under test is already waiting.
func (c *Clock) BlockUntil(n int) {
	for {
		if c.Waiters() >= n {
			return
		}
		<-c.added
	}
}

type fakeTimer struct {
	c *Clock
	w *waiter
}

func (t *fakeTimer) C() <-chan time.Time { return t.w.c }
func (t *fakeTimer) Stop() bool          { return t.c.disarm(t.w) }
func (t *fakeTimer) Reset(d time.Duration) bool {
	was := t.c.disarm(t.w)
	t.c.arm(t.w, d)
	return was
}

type fakeTicker struct {
	c *Clock
	w *waiter
}

func (t *fakeTicker) C() <-chan time.Time { return t.w.c }
func (t *fakeTicker) Stop()               { t.c.disarm(t.w) }
func (t *fakeTicker) Reset(d time.Duration) {
	t.c.disarm(t.w)
	t.w.period = d
	t.c.arm(t.w, d)
}
