package aec

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Options tune a Processor. The zero value of every duration and level
// means its default.
type Options struct {
	// EchoCancellation removes the far end (what the Reference played)
	// from the microphone: speexdsp's MDF adaptive filter, then its
	// residual echo suppressor.
	EchoCancellation bool
	// NoiseSuppression removes stationary noise (fans, hum; a steady
	// tone counts as noise too).
	NoiseSuppression bool
	// AutoGain levels the microphone towards AGCTarget.
	AutoGain bool

	// Tail is the echo path the adaptive filter models after the
	// estimated delay (room reverberation included). 0: 64 ms. Longer
	// tails cost CPU and converge more slowly.
	Tail time.Duration
	// MaxDelay is the largest playback-to-capture delay searched. 0: 400 ms.
	MaxDelay time.Duration
	// InitialDelay is assumed until the delay is estimated: the filter
	// starts 3 ms before it. 0: 23 ms, so that the filter covers 20 ms to
	// 20 ms+Tail and keeps clear of the newest 20 ms of far end, which a
	// player callback held back on a loaded machine may not have
	// delivered yet when a chunk is processed (see lateAllowance).
	InitialDelay time.Duration
	// EchoSuppressDB and EchoSuppressActiveDB are the residual echo
	// suppressor's floors with the far end alone and during double talk
	// (negative dB). 0: -40 and -15 (speexdsp's defaults).
	EchoSuppressDB, EchoSuppressActiveDB int
	// NoiseSuppressDB is the noise floor with NoiseSuppression (negative
	// dB). 0: -15.
	NoiseSuppressDB int
	// AGCTarget is the level AutoGain aims for, in 16-bit sample units.
	// 0: 8000 (about -12 dBFS). AGCMaxGainDB bounds its gain. 0: 30.
	AGCTarget, AGCMaxGainDB int

	Log *slog.Logger
}

// FrameSize is the block speexdsp works on: 10 ms at 48 kHz. Process
// takes whole multiples of it (a 20 ms chunk is two).
const frameMs = 10

const (
	preDelay   = 3 * time.Millisecond  // where the estimated delay sits inside the filter
	timingBias = 10 * time.Millisecond // slack for the jitter of the devices' callbacks
	// lateAllowance is how late the far end may reach the Reference,
	// beyond timingBias, without the filter being moved. A player
	// callback held back while the sound card plays on from its queue
	// (kioskd's player keeps 3 periods of 10 ms) is timing, not a change
	// of the echo's delay, and a move restarts the filter: on a loaded
	// board the first such burst can come at any moment, long after the
	// filter converged.
	// Until the delay is estimated the filter starts this far back (where
	// it sits then costs little: a steady tone, what usually gives no
	// estimate, is cancelled at any lag, and speech is estimated within
	// a second, which places the filter anyway), and when the far end
	// comes later still (a longer queue, or one that ran dry) it moves
	// with this much room again. Once the delay is estimated the filter
	// sits just before the echo, which no far end can come later than.
	lateAllowance = 20 * time.Millisecond
	resyncAt      = 100 * time.Millisecond
	minConf       = 1.5 // correlation peak over the best rival lag
)

// Stats is what a Processor did, for logs, metrics and tests.
type Stats struct {
	Frames    int64         // 10 ms frames processed
	DelayMS   float64       // playback-to-capture delay: the latest estimate, or InitialDelay
	Estimated bool          // DelayMS comes from the signals, not the default
	FilterMS  float64       // where the adaptive filter starts: it models the echo from FilterMS to FilterMS+Tail
	Realigns  int64         // times the reference was shifted to a new delay estimate
	Resyncs   int64         // times the timelines jumped (a device restarted)
	Holes     int64         // far-end samples the filter got as silence because they were not played yet
	LateMS    float64       // the most the far end was behind what a chunk needed, beyond the timing slack (ms)
	Skipped   int64         // microphone samples lost before processing (see Skip)
	CPU       time.Duration // time spent in Process (wall clock: CPU time on an unloaded core)
	Audio     time.Duration // audio processed
}

// Processor cleans one microphone stream: echo cancellation against a
// Reference, noise suppression, automatic gain. Process is called by one
// goroutine (the microphone's reader); Stats from any.
type Processor struct {
	ref   *Reference
	opt   Options
	log   *slog.Logger
	rate  int
	frame int
	tail  int
	pre   int
	bias  int64
	allow int // lateAllowance in samples
	eng   *engine
	est   *delayEstimator

	capPos     int64   // capture index of the next sample
	s0         int64   // reference position of capture index 0 (minus the bias)
	sAvg       float64 // the same, measured and smoothed
	s0set      bool
	hist       []int16 // reference aligned to the capture index (ring)
	histEnd    int64   // capture index after the newest sample in hist
	micHist    []int16 // the microphone before processing, same indices
	align      int     // the reference is delayed by this many samples before the filter
	lastLag    int
	delay      int // the accepted estimate
	holes      int64
	late       int   // the most the far end was late (see track)
	floor      int   // the filter never starts before this lag: the far end is not known sooner
	lastRefEnd int64 // the known far end's end after the previous chunk
	ep         lateEpisode
	agree      int
	refBuf     []int16
	chunk      []int16
	micChunk   []int16
	outBuf     []int16
	locked     bool

	mu sync.Mutex
	st Stats
}

// lateEpisode is a far end that stopped growing while chunks came past
// it. Either a player's callbacks are late (the far end then comes, and
// the episode counts) or the speaker stopped (a failed device, reopened
// later): then nothing was late, and what the episode did to the filter
// is undone once the Reference says no player runs.
type lateEpisode struct {
	active bool
	floor  int  // p.floor before it
	late   int  // p.late before it
	align  int  // p.align before it
	moved  bool // it moved the filter (and no delay estimate did since)
}

// NewProcessor returns a processor at rate Hz (ref's rate when ref is not
// nil). ref may be nil without EchoCancellation.
func NewProcessor(rate int, ref *Reference, opt Options) (*Processor, error) {
	if opt.EchoCancellation && ref == nil {
		return nil, errors.New("aec: echo cancellation needs the speaker's reference")
	}
	if ref != nil && ref.Rate() != rate {
		return nil, fmt.Errorf("aec: reference at %d Hz, microphone at %d Hz", ref.Rate(), rate)
	}
	if rate <= 0 || rate%100 != 0 {
		return nil, fmt.Errorf("aec: rate %d Hz is not a multiple of 100", rate)
	}
	if opt.Tail <= 0 {
		opt.Tail = 64 * time.Millisecond
	}
	if opt.MaxDelay <= 0 {
		opt.MaxDelay = 400 * time.Millisecond
	}
	if opt.InitialDelay <= 0 {
		opt.InitialDelay = lateAllowance + preDelay
	}
	if opt.EchoSuppressDB >= 0 {
		opt.EchoSuppressDB = -40
	}
	if opt.EchoSuppressActiveDB >= 0 {
		opt.EchoSuppressActiveDB = -15
	}
	if opt.NoiseSuppressDB >= 0 {
		opt.NoiseSuppressDB = -15
	}
	if opt.AGCTarget <= 0 {
		opt.AGCTarget = 8000
	}
	if opt.AGCMaxGainDB <= 0 {
		opt.AGCMaxGainDB = 30
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	samples := func(d time.Duration) int { return int(int64(d) * int64(rate) / int64(time.Second)) }
	p := &Processor{
		ref: ref, opt: opt, log: opt.Log, rate: rate,
		frame: rate * frameMs / 1000,
		tail:  samples(opt.Tail),
		pre:   samples(preDelay),
		bias:  int64(samples(timingBias)),
		allow: samples(lateAllowance),
	}
	nsDB := opt.NoiseSuppressDB
	if !opt.NoiseSuppression {
		nsDB = -1 // the denoiser runs only for the residual echo suppressor
	}
	eng, err := newEngine(engineConfig{
		frame: p.frame, tail: p.tail, rate: rate,
		ec: opt.EchoCancellation, ns: opt.NoiseSuppression, agc: opt.AutoGain,
		nsDB: nsDB, echoDB: opt.EchoSuppressDB, echoActiveDB: opt.EchoSuppressActiveDB,
		agcTarget: opt.AGCTarget, agcMaxGain: opt.AGCMaxGainDB,
	})
	if err != nil {
		return nil, err
	}
	p.eng = eng
	if opt.EchoCancellation {
		p.est = newDelayEstimator(rate, opt.MaxDelay.Seconds())
		p.hist = make([]int16, samples(opt.MaxDelay)+p.tail+rate/2)
		p.micHist = make([]int16, len(p.hist))
		p.align = max(0, samples(opt.InitialDelay)-p.pre)
		p.lastRefEnd = math.MinInt64 / 2
		p.st.DelayMS = ms(p.align+p.pre, rate)
		p.st.FilterMS = ms(p.align, rate)
	}
	p.outBuf = make([]int16, p.frame)
	p.refBuf = make([]int16, p.frame)
	return p, nil
}

func ms(samples, rate int) float64 { return float64(samples) * 1000 / float64(rate) }

// Enabled reports whether the processor changes anything.
func (p *Processor) Enabled() bool {
	return p.opt.EchoCancellation || p.opt.NoiseSuppression || p.opt.AutoGain
}

// Skip tells the processor that the next n samples of the microphone were
// lost before they reached it (its reader fell behind, and the microphone
// dropped its oldest audio, as audio.Microphone does): the next chunk is n
// samples later than the last one ended. The capture index moves on by n,
// so that chunk stays aligned with the far end it echoes. Without it the
// loss reads as the timelines jumping, and every jump throws the delay
// estimate away: on a board that cannot keep up for a moment, again and
// again. The adaptive filter keeps its taps (the echo path did not
// change); its first frames after the gap see far end that skips.
func (p *Processor) Skip(n int) {
	if n <= 0 {
		return
	}
	if p.opt.EchoCancellation {
		h := int64(len(p.micHist))
		for i := int64(0); i < min(int64(n), h); i++ {
			p.micHist[(p.capPos+int64(n)-1-i)%h] = 0
		}
	}
	p.capPos += int64(n)
	p.mu.Lock()
	p.st.Skipped += int64(n)
	p.mu.Unlock()
}

// Process cleans mic in place. end is when its last sample was captured,
// on the Reference's clock (Reference.Now minus what is still buffered);
// it places the chunk on the far end's timeline. Whole 10 ms frames are
// processed; a trailing partial frame is left as it is.
func (p *Processor) Process(mic []int16, end time.Duration) {
	start := time.Now()
	n := len(mic) - len(mic)%p.frame
	if n == 0 {
		return
	}
	mic = mic[:n]
	var realigned, resynced bool
	if p.opt.EchoCancellation {
		realigned, resynced = p.track(mic, end)
	}
	for f := 0; f < n; f += p.frame {
		in := mic[f : f+p.frame]
		ref := p.refBuf
		if p.opt.EchoCancellation {
			p.aligned(p.capPos+int64(f)-int64(p.align), ref)
		}
		p.eng.process(in, ref, p.outBuf)
		copy(in, p.outBuf)
	}
	p.capPos += int64(n)
	elapsed := time.Since(start)
	p.mu.Lock()
	p.st.Frames += int64(n / p.frame)
	p.st.CPU += elapsed
	p.st.Audio += time.Duration(int64(n) * int64(time.Second) / int64(p.rate))
	if realigned {
		p.st.Realigns++
	}
	if resynced {
		p.st.Resyncs++
	}
	if p.locked {
		p.st.DelayMS = ms(p.delay, p.rate)
	}
	p.st.Estimated = p.locked
	if p.opt.EchoCancellation {
		p.st.FilterMS = ms(p.align, p.rate)
	}
	p.st.Holes = p.holes
	p.st.LateMS = ms(p.late, p.rate)
	p.mu.Unlock()
}

// track brings the far end for this chunk into the history and updates
// the delay estimate; it reports a realignment and a timeline jump.
//
// The history is filled only with what the speaker has been handed: a
// position the player has not reached yet is filled in on a later chunk,
// never stored as silence (the callbacks of the two devices come in their
// own rhythm, and the microphone's may run a period or two ahead).
func (p *Processor) track(mic []int16, end time.Duration) (realigned, resynced bool) {
	n := int64(len(mic))
	capEnd := p.capPos + n
	h := int64(len(p.hist))
	for i, v := range mic {
		p.micHist[(p.capPos+int64(i))%h] = v
	}
	// Where the far end is now on its timeline, and how much of it is
	// known (Reference.at).
	pos, refEnd, playing := p.ref.at(end)
	s := pos - capEnd - p.bias
	if !p.s0set {
		p.s0, p.sAvg, p.s0set = s, float64(s), true
		p.histEnd = p.capPos
	} else {
		p.sAvg += 0.05 * (float64(s) - p.sAvg)
		if math.Abs(p.sAvg-float64(p.s0)) > resyncAt.Seconds()*float64(p.rate) {
			// The speaker or the microphone restarted: the echo now
			// arrives at another lag. Estimate it afresh.
			resynced = true
			p.log.Info("echo canceller: timelines jumped; estimating the delay again",
				"jump_ms", (p.sAvg-float64(p.s0))*1000/float64(p.rate))
			p.s0 = int64(p.sAvg)
			p.est.reset()
			p.agree = 0
			p.histEnd = p.capPos // what is stored was placed with the old offset
		}
	}
	advanced := refEnd > p.lastRefEnd
	p.lastRefEnd = refEnd
	upTo := min(capEnd, refEnd-p.s0)
	if upTo-p.histEnd > h-n {
		p.histEnd = upTo - (h - n) // a long stall: older history is of no use
	}
	// The newest part of the far end may not be known yet: the speaker's
	// callback comes in its own rhythm. An echo cannot precede what it
	// echoes, so the filter loses nothing by never reaching that far:
	// keep the reference it sees at least that old, else it would learn
	// from silence that was never played. Only while a player runs: with
	// none, or none yet, the far end is silence up to the clock and
	// nothing is late, and what looked late since it last grew was the
	// speaker stopping (lateEpisode). kioskd opens the speaker on the DP's
	// first packet, after the microphone: taken for lateness, that wait
	// (or a speaker that failed) put the filter up to 100 ms past an echo
	// that comes sooner, for good, and speech was not cancelled at all.
	defer func() {
		if !playing {
			if p.withdrawLate(capEnd) {
				realigned = true
			}
			return
		}
		if advanced {
			p.ep.active = false // the far end came: it was late, and counts
		}
		late := int(capEnd - max(p.histEnd, upTo))
		if late > 0 && !advanced && !p.ep.active {
			p.ep = lateEpisode{active: true, floor: p.floor, late: p.late, align: p.align}
		}
		p.late = max(p.late, late)
		if late > p.floor {
			p.floor = late
		}
		if p.align < p.floor {
			// The far end came later than the filter allows for. Until
			// the delay is estimated, leave room for as much again (late
			// callbacks are timing, and each move is a restart); with an
			// estimate, the echo is known to be later than that anyway.
			old := p.align
			p.align = p.floor + p.rate/1000
			if !p.locked {
				p.align = p.floor + p.allow
			}
			p.eng.reset() // the taps do not move with the reference
			realigned = true
			p.ep.moved = p.ep.active
			p.log.Debug("echo canceller: far end arrives late; filter moved", "filter_from_ms", ms(p.align, p.rate), "audio_s", float64(capEnd)/float64(p.rate),
				"previous_from_ms", ms(old, p.rate))
		}
	}()
	if upTo <= p.histEnd {
		return realigned, resynced
	}
	k := upTo - p.histEnd
	if int64(cap(p.chunk)) < k {
		p.chunk = make([]int16, k)
		p.micChunk = make([]int16, k)
	}
	chunk, micChunk := p.chunk[:k], p.micChunk[:k]
	p.ref.read(p.histEnd+p.s0, chunk)
	for i := range chunk {
		idx := (p.histEnd + int64(i)) % h
		p.hist[idx] = chunk[i]
		micChunk[i] = p.micHist[idx]
	}
	p.histEnd = upTo
	if p.est.push(micChunk, chunk) && p.est.conf >= minConf {
		lag := p.est.lag
		if abs64(int64(lag-p.lastLag)) <= int64(p.rate/1000) {
			p.agree++
		} else {
			p.agree = 1
		}
		p.lastLag = lag
		if p.agree >= 2 {
			// The filter covers lags align..align+tail. The reference is
			// shifted only when the echo's main path leaves
			// [align+1 ms, align+tail-24 ms] (a shift costs a
			// re-convergence: the filter's taps do not move with it),
			// to sit pre (3 ms) into the filter again.
			lo, hi := p.align+p.rate/1000, p.align+p.tail-p.rate*24/1000
			first := !p.locked
			p.locked = true
			p.delay = lag
			want := max(0, lag-p.pre, p.floor+p.rate/1000)
			// The first estimate places the filter at once (early, when
			// little has been learnt), so that the far end arriving late
			// later on does not have to move it.
			shift := (first || lag < lo || lag > hi) && abs64(int64(want-p.align)) > int64(p.rate/1000)
			old := p.align
			if shift {
				p.align = want
				p.eng.reset() // the taps do not move with the reference
				realigned = true
				p.ep.moved = false
			}
			if first || shift {
				args := []any{"delay_ms", ms(lag, p.rate), "filter_from_ms", ms(p.align, p.rate), "previous_from_ms", ms(old, p.rate),
					"audio_s", float64(p.capPos) / float64(p.rate), "confidence", p.est.conf}
				if first {
					p.log.Info("echo canceller: delay estimated", args...)
				} else {
					p.log.Debug("echo canceller: delay changed", args...)
				}
			}
		}
	}
	return realigned, resynced
}

// withdrawLate undoes a lateness episode that ended with no player: the
// speaker stopped, nothing was late. The floor and the lateness are what
// they were before it, and the filter goes back if the episode moved it
// (with no far end there is nothing to cancel meanwhile). It reports
// whether the filter moved.
func (p *Processor) withdrawLate(capEnd int64) bool {
	if !p.ep.active {
		return false
	}
	ep := p.ep
	p.ep = lateEpisode{}
	p.floor, p.late = ep.floor, ep.late
	if !ep.moved {
		return false
	}
	want := ep.align
	if p.locked {
		want = max(0, p.delay-p.pre, p.floor+p.rate/1000)
	}
	if want == p.align {
		return false
	}
	old := p.align
	p.align = want
	p.eng.reset()
	p.log.Debug("echo canceller: the speaker stopped, the far end was not late; filter back", "filter_from_ms", ms(p.align, p.rate),
		"audio_s", float64(capEnd)/float64(p.rate), "previous_from_ms", ms(old, p.rate))
	return true
}

// aligned copies the history from capture index from into dst: silence
// where the far end is not known (not played yet, or too old).
func (p *Processor) aligned(from int64, dst []int16) {
	h := int64(len(p.hist))
	for i := range dst {
		idx := from + int64(i)
		if idx < 0 || idx >= p.histEnd || idx < p.histEnd-h {
			if idx >= p.histEnd && p.s0set {
				p.holes++
			}
			dst[i] = 0
			continue
		}
		dst[i] = p.hist[idx%h]
	}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// Stats reports what the processor did so far.
func (p *Processor) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// Close frees speexdsp's state. The processor must not be used afterwards.
func (p *Processor) Close() {
	if p.eng != nil {
		p.eng.close()
		p.eng = nil
	}
}
