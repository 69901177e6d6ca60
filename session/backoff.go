package session

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with full jitter: the n-th delay is drawn
// uniformly from [0, min(Max, Initial·2ⁿ)). Full jitter spreads a fleet of
// kiosks that lost the same server so they do not return in lockstep.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	// Rand returns a number in [0, 1); nil uses math/rand/v2.
	Rand    func() float64
	attempt int
}

// Ceiling is the upper bound of the next delay.
func (b *Backoff) Ceiling() time.Duration {
	c := b.Initial
	for i := 0; i < b.attempt && c < b.Max; i++ {
		c *= 2
	}
	if c > b.Max {
		c = b.Max
	}
	return c
}

// Next returns the next delay and grows the ceiling.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	b.attempt++
	return time.Duration(r() * float64(c))
}

// Reset starts over from Initial.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts is how many delays were handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }
