package aec

import (
	"sync"
	"time"
)

// Reference is the far-end signal: the samples the speaker's player hands
// to the sound card, placed on a timeline shared with the microphone. The
// player writes it from its audio thread (Write is short and never blocks
// on anything but a mutex held for a copy); each microphone's Processor
// reads from it. One Reference serves the daemon's lifetime, across
// speakers that open, fail and reopen.
//
// The timeline is in samples of a clock: a block is placed where the
// previous one ended as long as the player runs without a break (so the
// jitter of its callbacks does not smear the signal), and where the clock
// says when a break (a new player, a stalled device) leaves a gap; the gap
// reads as silence.
type Reference struct {
	rate int
	now  func() time.Duration
	tee  func([]int16)
	gap  int64 // a later start than this many samples is a break

	mu        sync.Mutex
	ring      []int16
	count     int64 // timeline position after the newest sample
	anchorT   time.Duration
	anchorPos int64
	started   bool
	written   int64
	breaks    int64
}

// ReferenceOption configures a Reference.
type ReferenceOption func(*Reference)

// WithClock makes the reference read time from now (monotonic, any
// epoch) instead of the wall clock. The microphone side must use the same
// clock (Reference.Now). Tests and simulations count frames with it.
func WithClock(now func() time.Duration) ReferenceOption {
	return func(r *Reference) { r.now = now }
}

// WithTee hands every block to f as well, once it is on the timeline (a
// simulated speaker: aectest.Room.Play, which may block the player).
func WithTee(f func([]int16)) ReferenceOption {
	return func(r *Reference) { r.tee = f }
}

// NewReference returns a far-end reference at rate Hz keeping 2 s of audio.
func NewReference(rate int, opts ...ReferenceOption) *Reference {
	start := time.Now()
	r := &Reference{rate: rate, ring: make([]int16, 2*rate), gap: int64(rate / 10)}
	r.now = func() time.Duration { return time.Since(start) }
	for _, o := range opts {
		o(r)
	}
	return r
}

// Rate is the sample rate of the reference.
func (r *Reference) Rate() int { return r.rate }

// Now is the reference's clock.
func (r *Reference) Now() time.Duration { return r.now() }

func (r *Reference) toSamples(d time.Duration) int64 {
	return int64(d) * int64(r.rate) / int64(time.Second)
}

// Write appends what the player just handed to the sound card. Called on
// the player's audio thread.
func (r *Reference) Write(samples []int16) {
	if len(samples) == 0 {
		return
	}
	t := r.now()
	r.mu.Lock()
	if !r.started {
		r.started = true
		r.count = r.toSamples(t)
	} else if expected := r.anchorPos + r.toSamples(t-r.anchorT); expected-r.count > r.gap {
		// A break: the player stopped or is new. What was not played
		// reads as silence (only the part still in the ring matters).
		from := max(r.count, expected-int64(len(r.ring)))
		for p := from; p < expected; p++ {
			r.ring[p%int64(len(r.ring))] = 0
		}
		r.count = expected
		r.breaks++
	}
	start := r.count
	r.anchorT, r.anchorPos = t, start
	n := int64(len(r.ring))
	block := samples
	if len(block) > len(r.ring) {
		r.count += int64(len(block) - len(r.ring))
		block = block[len(block)-len(r.ring):]
	}
	for i, s := range block {
		r.ring[(r.count+int64(i))%n] = s
	}
	r.count += int64(len(block))
	r.written += int64(len(block))
	r.mu.Unlock()
	if r.tee != nil {
		// The simulated speaker takes the block once it is on the
		// timeline (a real one cannot echo it sooner either), and may
		// hold the player back: the block was handed over when it
		// returns.
		r.tee(samples)
		t = r.now()
		r.mu.Lock()
		if r.anchorPos == start {
			r.anchorT = t
		}
		r.mu.Unlock()
	}
}

// at reports, for time t, the timeline position being handed to the card
// (pos), where the far end known so far ends (known), and whether a
// player runs. While one runs, pos follows the clock from its newest
// block but never beyond what was written (an extrapolation past a late
// callback), and known is what was written: the rest may still come.
// With no player (none yet, or none for longer than a break), both are
// where the clock is: the next block will be placed there (Write), and
// everything before it reads as silence, which is what was played. A
// microphone opened first (kioskd opens the speaker on the DP's first
// packet) is then neither ahead of the far end nor on a timeline that
// jumps when the player starts; nor is one that outlives a player.
func (r *Reference) at(t time.Duration) (pos, known int64, playing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		c := r.toSamples(t)
		return c, c, false
	}
	c := r.anchorPos + r.toSamples(t-r.anchorT)
	if c-r.count > r.gap {
		return c, c, false
	}
	return min(c, r.count), r.count, true
}

// read copies the timeline from pos into dst: silence where nothing was
// written yet or the ring no longer holds it.
func (r *Reference) read(pos int64, dst []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := int64(len(r.ring))
	for i := range dst {
		p := pos + int64(i)
		if !r.started || p >= r.count || p < r.count-n || p < 0 {
			dst[i] = 0
			continue
		}
		dst[i] = r.ring[p%n]
	}
}

// ReferenceStats counts what the reference received.
type ReferenceStats struct {
	Written int64 // samples written
	Breaks  int64 // times the player started again after a break
}

// Stats reports the counters so far.
func (r *Reference) Stats() ReferenceStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ReferenceStats{Written: r.written, Breaks: r.breaks}
}
