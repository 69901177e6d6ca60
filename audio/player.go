package audio

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// PlayerConfig selects the speaker and sizes its jitter buffer.
type PlayerConfig struct {
	// PCM is the ALSA PCM to play on; "" is "default".
	PCM string
	// Target is how much audio is buffered before playing starts (and
	// starts again after an underrun). 0: 60 ms.
	Target time.Duration
	// Max is the most audio kept: beyond it the oldest is dropped down to
	// Target, so latency cannot grow without bound. 0: Target + 140 ms.
	Max time.Duration
	// Tap, if set, is called on the audio thread with every block handed
	// to the sound card, voice and silence alike, right after it is
	// filled: the far-end reference of an echo canceller. It must be
	// quick and must not keep the slice.
	Tap func(samples []int16)
	Log *slog.Logger
}

// PlayerStats counts what the speaker did. Sample counts are at 48 kHz.
type PlayerStats struct {
	Written   int64 // samples handed to Write
	Played    int64 // samples of voice played
	Silence   int64 // samples of silence played (before the first audio, and in underruns)
	Underruns int64 // bursts in which the buffer ran dry while playing
	Dropped   int64 // samples dropped because the buffer overflowed Max
	Buffered  int   // samples waiting now
}

// jitter is the playout buffer: it fills to target before playing, plays
// until it runs dry (an underrun: silence, counted once per burst), and
// drops the oldest audio past max.
type jitter struct {
	ring          []int16
	r, n          int
	target, limit int
	playing       bool
	held          int // silence samples played while holding audio short of target
	stats         PlayerStats
}

func newJitter(target, limit int) *jitter {
	return &jitter{ring: make([]int16, limit+ChunkFrames), target: target, limit: limit}
}

func (j *jitter) push(pcm []int16) {
	j.held = 0
	j.stats.Written += int64(len(pcm))
	if len(pcm) > len(j.ring) {
		drop := len(pcm) - len(j.ring)
		j.stats.Dropped += int64(drop)
		pcm = pcm[drop:]
	}
	if over := j.n + len(pcm) - len(j.ring); over > 0 {
		j.skip(over)
	}
	for i, s := range pcm {
		j.ring[(j.r+j.n+i)%len(j.ring)] = s
	}
	j.n += len(pcm)
	if j.n > j.limit {
		// Latency grew past the limit (a burst, or clock drift): catch up.
		j.skip(j.n - j.target)
	}
}

func (j *jitter) skip(k int) {
	j.r = (j.r + k) % len(j.ring)
	j.n -= k
	j.stats.Dropped += int64(k)
}

// ready reports whether pull would play (not output prebuffer silence)
// and fill out completely.
func (j *jitter) ready(want int) bool {
	if !j.playing {
		return j.n >= j.target || j.flush()
	}
	return j.n >= want
}

// flush: audio short of the target that has waited a target's worth of
// time without more arriving is the end of a talk spurt: play it rather
// than hold it until the next spurt.
func (j *jitter) flush() bool { return j.n > 0 && j.held >= j.target }

// pull fills out with audio or silence; it reports whether an underrun
// burst started.
func (j *jitter) pull(out []int16) (underrun bool) {
	if !j.playing {
		if j.n < j.target && !j.flush() {
			clear(out)
			j.stats.Silence += int64(len(out))
			if j.n > 0 {
				j.held += len(out)
			}
			return false
		}
		j.playing = true
	}
	k := min(j.n, len(out))
	for i := 0; i < k; i++ {
		out[i] = j.ring[(j.r+i)%len(j.ring)]
	}
	j.r = (j.r + k) % len(j.ring)
	j.n -= k
	j.stats.Played += int64(k)
	if k < len(out) {
		clear(out[k:])
		j.stats.Silence += int64(len(out) - k)
		j.stats.Underruns++
		j.playing = false
		return true
	}
	return false
}

// Player plays 48 kHz mono int16 on an ALSA PCM through a jitter buffer.
type Player struct {
	pcm    string
	log    *slog.Logger
	ctx    *malgo.AllocatedContext
	dev    *malgo.Device
	period time.Duration
	tap    func([]int16)

	mu        sync.Mutex
	jb        *jitter
	stopErr   error
	closed    bool
	logged    int64 // underrun bursts already logged
	lastLog   time.Time
	data      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// OpenPlayer opens and starts playback on cfg.PCM. Errors wrap ErrMissing,
// ErrBusy, ErrDenied, ErrUnusable or ErrNoALSA.
func OpenPlayer(cfg PlayerConfig) (*Player, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Target <= 0 {
		cfg.Target = 60 * time.Millisecond
	}
	if cfg.Max <= cfg.Target {
		cfg.Max = cfg.Target + 140*time.Millisecond
	}
	pcm := PCMName(cfg.PCM)
	p := &Player{
		pcm:    pcm,
		log:    cfg.Log,
		period: periodMs * time.Millisecond,
		tap:    cfg.Tap,
		jb:     newJitter(int(cfg.Target.Seconds()*SampleRate), int(cfg.Max.Seconds()*SampleRate)),
		data:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	dc := malgo.DefaultDeviceConfig(malgo.Playback)
	dc.Playback.Format = malgo.FormatS16
	dc.Playback.Channels = 1
	dc.SampleRate = SampleRate
	dc.PeriodSizeInMilliseconds = periodMs
	dc.Periods = 3
	dc.PerformanceProfile = malgo.LowLatency
	ctx, dev, err := openDevice("speaker", pcm, cfg.Log, dc, malgo.DeviceCallbacks{Data: p.onData, Stop: p.onStop})
	if err != nil {
		return nil, err
	}
	p.ctx, p.dev = ctx, dev
	p.log.Debug("speaker open", "pcm", pcm, "target_ms", cfg.Target.Milliseconds())
	return p, nil
}

// onData runs on miniaudio's playback thread.
func (p *Player) onData(out, _ []byte, frames uint32) {
	n := min(int(frames), len(out)/2)
	samples := unsafe.Slice((*int16)(unsafe.Pointer(unsafe.SliceData(out))), n)
	p.mu.Lock()
	ready := p.jb.ready(n)
	p.mu.Unlock()
	if !ready {
		// Give the network half a period: harmless for a sound card
		// (two more periods are queued) and it paces unpaced PCMs
		// (ALSA `file`/`null`) instead of spinning on silence.
		t := time.NewTimer(p.period / 2)
		select {
		case <-p.data:
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
	}
	p.mu.Lock()
	p.jb.pull(samples)
	p.mu.Unlock()
	if p.tap != nil {
		p.tap(samples)
	}
}

func (p *Player) onStop() {
	p.mu.Lock()
	if !p.closed && p.stopErr == nil {
		p.stopErr = fmt.Errorf("%w: speaker %q", ErrStopped, p.pcm)
	}
	p.mu.Unlock()
}

// PCM is the ALSA PCM this player plays on.
func (p *Player) PCM() string { return p.pcm }

// Write queues samples for playing. It never blocks on the device; it
// fails once the device stopped by itself (ErrStopped) or was closed.
// Underrun bursts are logged here (not on the audio thread), at most one
// line per 10 s with the count of bursts since the last line.
func (p *Player) Write(pcm []int16) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("%w: speaker %q closed", ErrStopped, p.pcm)
	}
	if p.stopErr != nil {
		err := p.stopErr
		p.mu.Unlock()
		return err
	}
	p.jb.push(pcm)
	bursts := p.jb.stats.Underruns
	var newBursts int64
	if bursts > p.logged && time.Since(p.lastLog) >= 10*time.Second {
		newBursts = bursts - p.logged
		p.logged = bursts
		p.lastLog = time.Now()
	}
	p.mu.Unlock()
	signal(p.data)
	if newBursts > 0 {
		p.log.Warn("speaker underrun: played silence", "pcm", p.pcm, "bursts", newBursts, "total", bursts)
	}
	return nil
}

// Stats reports the counters so far.
func (p *Player) Stats() PlayerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.jb.stats
	s.Buffered = p.jb.n
	return s
}

// Close stops playback (what is still buffered is not played) and releases
// the device. Safe to call more than once.
func (p *Player) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.done)
		p.dev.Uninit()
		freeContext(p.ctx)
	})
	return nil
}
