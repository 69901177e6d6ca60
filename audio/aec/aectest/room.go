package aectest

import (
	"errors"
	"io"
	"math"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/wave"
)

// RoomConfig describes the acoustic path of a Room.
type RoomConfig struct {
	Delay time.Duration // speaker to microphone
	Gain  float64       // of the path; 0: 0.5 (-6 dB)
	// Near is the visitor: the near-end sample at capture index i (nil: none).
	Near func(i int) float64
	// Lead is how far the speaker may run ahead of the microphone (the
	// sound card's playback queue). 0: 20 ms (one microphone chunk, the
	// least that lets both sides move).
	Lead time.Duration
	// Gate, if set, must hold before the microphone delivers the chunk
	// starting at capture index captured: a test feeding the speaker
	// holds the microphone back to its own pace with it (and calls
	// Notify when it moved), so the speaker never runs dry by accident.
	// It is called with the room locked: it must not call the Room.
	Gate func(captured int) bool
	// Pace makes the microphone deliver no faster than real time, for
	// end-to-end runs in which the far end arrives in real time (over
	// WebRTC from dpsim). Measurements still count samples. A far end
	// that can fall behind the wall clock (a DP on the same loaded
	// machine) needs a Gate as well, or the speaker runs dry.
	Pace bool
	// Wait bounds how long a side waits for the other on the wall clock
	// before giving up (a stuck test, never a measurement). 0: 5 s.
	Wait time.Duration
}

// Room is a speaker and a microphone in one place, frame-coupled: what the
// speaker is handed (Play, e.g. an audio.Player's Tap through
// aec.WithTee) is heard by the microphone (Read, an AudioSource)
// Delay later at Gain, with the visitor mixed in. Neither side runs on a
// wall clock: the microphone delivers a chunk once the speaker has played
// what it contains, and the speaker is held back when it runs more than
// Lead ahead, as a real playback queue would fill up. Its clock (Now) is
// the count of captured samples; give it to aec.WithClock.
type Room struct {
	cfg   RoomConfig
	delay int
	lead  int

	mu       sync.Mutex
	cond     *sync.Cond
	played   []int16 // speaker timeline from position 0
	started  bool
	captured int
	t0       time.Time // Pace: when the first chunk was delivered
	echo     []int16   // the echo component of every captured sample
	near     []int16   // the visitor's component
	closed   bool
}

// ErrRoomStuck is returned when one side waited too long for the other.
var ErrRoomStuck = errors.New("aectest: room: the other side did not move")

// NewRoom returns a room; the microphone's ID is "room".
func NewRoom(cfg RoomConfig) *Room {
	if cfg.Gain == 0 {
		cfg.Gain = 0.5
	}
	if cfg.Lead <= 0 {
		cfg.Lead = 20 * time.Millisecond
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Second
	}
	r := &Room{cfg: cfg, delay: int(cfg.Delay.Seconds() * Rate), lead: int(cfg.Lead.Seconds() * Rate)}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// Now is the room's clock: the audio captured so far.
func (r *Room) Now() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(int64(r.captured) * int64(time.Second) / Rate)
}

// waitFor waits on the condition until ok or closed or Wait passed.
func (r *Room) waitFor(ok func() bool) bool {
	deadline := time.Now().Add(r.cfg.Wait)
	t := time.AfterFunc(r.cfg.Wait, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer t.Stop()
	for !ok() && !r.closed {
		if time.Now().After(deadline) {
			return false
		}
		r.cond.Wait()
	}
	return !r.closed
}

// Play is the speaker: it plays samples, holding the caller back while it
// is more than Lead ahead of the microphone.
func (r *Room) Play(samples []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started = true
		// The speaker starts now: nothing was played before.
		r.played = make([]int16, r.captured, r.captured+len(samples))
	}
	if !r.waitFor(func() bool { return len(r.played)-r.captured <= r.lead }) {
		return
	}
	r.played = append(r.played, samples...)
	r.cond.Broadcast()
}

// Notify wakes the sides up to check a Gate again.
func (r *Room) Notify() {
	r.mu.Lock()
	r.cond.Broadcast()
	r.mu.Unlock()
}

// WaitPlayed waits until the speaker's timeline holds n samples (with
// Lead()+1, until it filled its queue before the microphone opens, as a
// sound card is primed before it plays). It reports false when the room
// closed or Wait passed first.
func (r *Room) WaitPlayed(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitFor(func() bool { return len(r.played) >= n })
}

// WaitCaptured waits until the microphone delivered n samples: a test
// that feeds the speaker holds its feed back to the microphone's pace with
// it. It reports false when the room closed or Wait passed first.
func (r *Room) WaitCaptured(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitFor(func() bool { return r.captured >= n })
}

// Lead is how far the speaker may run ahead of the microphone, in samples.
func (r *Room) Lead() int { return r.lead }

// Captured is how many samples the microphone delivered.
func (r *Room) Captured() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.captured
}

// Played is how many samples the speaker's timeline holds.
func (r *Room) Played() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.played)
}

// ID names the microphone.
func (r *Room) ID() string { return "room" }

// Read is the microphone: the next 20 ms, once the speaker played it.
func (r *Room) Read() (wave.Audio, func(), error) {
	const n = Rate / 50
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cfg.Pace {
		if r.t0.IsZero() {
			r.t0 = time.Now()
		}
		due := r.t0.Add(time.Duration(int64(r.captured) * int64(time.Second) / Rate))
		if d := time.Until(due); d > 0 {
			r.mu.Unlock()
			time.Sleep(d)
			r.mu.Lock()
		}
	}
	if r.closed {
		return nil, func() {}, io.EOF
	}
	// Only a speaker that runs is waited for. Both sides run at the same
	// rate, as two streams of one sound card do: the microphone does not
	// get ahead of the speaker (which holds what it hears, Delay later).
	if !r.waitFor(func() bool {
		return (!r.started || len(r.played) >= r.captured+n) && (r.cfg.Gate == nil || r.cfg.Gate(r.captured))
	}) {
		if r.closed {
			return nil, func() {}, io.EOF
		}
		return nil, func() {}, ErrRoomStuck
	}
	a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: n, Channels: 1, SamplingRate: Rate})
	for i := range n {
		c := r.captured + i
		var e, v float64
		if j := c - r.delay; j >= 0 && j < len(r.played) {
			e = r.cfg.Gain * float64(r.played[j]) / 32767
		}
		if r.cfg.Near != nil {
			v = r.cfg.Near(c)
		}
		r.echo = append(r.echo, clip16(e))
		r.near = append(r.near, clip16(v))
		a.Data[i] = clip16(e + v)
	}
	r.captured += n
	r.cond.Broadcast()
	return a, func() {}, nil
}

func clip16(x float64) int16 {
	return int16(math.Max(-32768, math.Min(32767, math.Round(x*32767))))
}

// Close stops both sides: Play returns at once, Read gives io.EOF.
func (r *Room) Close() error {
	r.mu.Lock()
	r.closed = true
	r.cond.Broadcast()
	r.mu.Unlock()
	return nil
}

// Components returns copies of the echo and the visitor as captured so
// far, sample-aligned with what the microphone delivered.
func (r *Room) Components() (echo, near []int16) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.echo...), append([]int16(nil), r.near...)
}
