package aectest

import (
	"fmt"
	"math"
	"time"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/av/analysis"
)

// Far-end signals of a Scenario.
const (
	FarTone   = "tone"   // dpsim's voice: a steady 880 Hz tone at 0.3 of full scale
	FarSpeech = "speech" // Speech at 0.3 peak-ish: an envelope, a wide spectrum
)

// VoiceHz and VisitorHz are the DP's voice and the visitor's (near end).
const (
	VoiceHz   = 880.0
	VisitorHz = 440.0
)

// The timeline of a Scenario, in seconds: the far end alone (the canceller
// converges), double talk (the visitor's 440 Hz over the DP), the visitor
// alone, the far end alone again (the canceller did not lose its way).
const (
	farOnlyEnd  = 5.0
	doubleEnd   = 8.0
	nearOnlyEnd = 9.0
	scenarioEnd = 12.0
)

// Scenario is a speaker and a microphone in a room, simulated sample by
// sample: a player hands 10 ms periods to the speaker (and the Reference)
// at its clock; the speaker plays them OutputLatency later; the microphone
// hears them Delay later at Gain, plus the visitor and a noise floor; the
// capture side delivers 10 ms periods, read as 20 ms chunks and processed.
// Time is the count of samples: nothing waits on a wall clock.
type Scenario struct {
	Far   string        // FarTone or FarSpeech
	Delay time.Duration // acoustic delay, speaker to microphone
	Gain  float64       // of the acoustic path; 0: 0.5 (-6 dB)
	// OutputLatency is how long after it is handed over a period is
	// heard (the sound card's queue). 0: 20 ms.
	OutputLatency time.Duration
	// Jitter shifts the timestamps of both devices' callbacks by up to
	// this much, pseudo-randomly (scheduling jitter). 0: none.
	Jitter  time.Duration
	Options aec.Options
	// Near is the visitor's peak amplitude; 0: 0.15 (as loud as the echo).
	Near float64
	// NoNear leaves the visitor out (ERLE over the whole run).
	NoNear bool
	// MicFrom opens the microphone (starts processing) this far into the
	// run: the far end is already playing, so a steady tone shows no
	// onset to estimate the delay from. What came before goes out as it
	// was captured. 0: at the start.
	MicFrom time.Duration
	// FarFrom starts the player this far into the run, after the
	// microphone (kioskd opens the speaker when the DP's first audio
	// packet arrives, the microphone with the session): before it the
	// Reference has received nothing, not even silence. 0: at the start.
	FarFrom time.Duration
	// Reused makes the Reference one that served an earlier speaker
	// (kioskd keeps one for its lifetime, across sessions): it holds a
	// second of the far end that a player handed over 10 s before the run
	// and then stopped.
	Reused bool
	// Stalls hold the player back, as a loaded board does.
	Stalls []Stall
	// SpeakerOff are times the speaker is gone (it failed; kioskd opens
	// it again later): no callbacks, nothing heard. Whole periods.
	SpeakerOff []Stall
	// Underruns are breaks in the DP's voice: the player's jitter buffer
	// ran dry in [At, At+For) and it played silence instead (the far end
	// and its echo alike), then went on where the voice was. A loaded
	// board, or a network that holds packets back, does this.
	Underruns []Stall
	// MicDrops lose the microphone's chunks that end in [At, At+For): the
	// reader fell behind and the microphone dropped its oldest audio.
	// They reach nobody (zeros in Signals.Out). The processor is told how
	// much was lost (Processor.Skip) unless NoSkip.
	MicDrops []Stall
	NoSkip   bool
}

// Stall holds the player's callbacks due in [At, At+For) back until
// At+For (rounded up to the player's 10 ms periods), where they come in a
// burst, after a microphone chunk ending then was processed. The sound
// card plays on from its queue meanwhile (For is at most OutputLatency),
// so the echo does not change: only what the Reference knows when a chunk
// is processed does.
type Stall struct {
	At, For time.Duration
}

// Result is what a Scenario measured. Levels in dB; "loss" is how much
// quieter the visitor's 440 Hz is after processing (positive: quieter).
type Result struct {
	EchoDBFS      float64       // the echo as the microphone hears it (at 880 Hz for the tone, RMS for speech)
	ResidualDBFS  float64       // the same after processing, 3-5 s
	ERLE          float64       // echo return loss enhancement, far end alone, 3-5 s
	ERLEAfterDT   float64       // the same after double talk, 10-12 s
	ERLEDTMin     float64       // the tone's ERLE in the worst 100 ms window of double talk (NaN for speech)
	Convergence   time.Duration // audio until ERLE stays >= 20 dB for the rest of the first part; -1: never
	NearLossDT    float64       // visitor's loss during double talk, mean over 100 ms windows
	NearLossDTMax float64       // ... the worst 100 ms window
	NearLossAlone float64       // visitor's loss when the DP is silent
	CPUPerSecond  time.Duration // processing time per second of audio
	Stats         aec.Stats
}

func (r Result) String() string {
	conv := "never"
	if r.Convergence >= 0 {
		conv = r.Convergence.String()
	}
	return fmt.Sprintf("echo %.1f dBFS -> %.1f dBFS, ERLE %.1f dB (worst in double talk %.1f, after it %.1f dB), converged after %s, "+
		"visitor loss %.1f dB double talk (worst %.1f), %.1f dB alone, processing %s (wall) per s of audio, delay %.1f ms (estimated %v)",
		r.EchoDBFS, r.ResidualDBFS, r.ERLE, r.ERLEDTMin, r.ERLEAfterDT, conv, r.NearLossDT, r.NearLossDTMax, r.NearLossAlone,
		r.CPUPerSecond.Round(time.Microsecond), r.Stats.DelayMS, r.Stats.Estimated)
}

// Signals are a scenario's inputs and output, sample-aligned at the microphone.
type Signals struct {
	Echo, Near, Mic, Out []int16
}

// Run simulates the scenario and measures it.
func Run(sc Scenario) (Result, Signals, error) {
	if sc.Gain == 0 {
		sc.Gain = 0.5
	}
	if sc.OutputLatency == 0 {
		sc.OutputLatency = 20 * time.Millisecond
	}
	if sc.Near == 0 {
		sc.Near = 0.15
	}
	n := int(scenarioEnd * Rate)
	var far []float64
	switch sc.Far {
	case FarTone, "":
		far = Tone(n, VoiceHz, 0.3)
	case FarSpeech:
		far = Speech(n, 7, 0.3)
	default:
		return Result{}, Signals{}, fmt.Errorf("aectest: unknown far end %q", sc.Far)
	}
	near := Tone(n, VisitorHz, sc.Near)
	for i := range n {
		t := float64(i) / Rate
		if sc.NoNear || t < farOnlyEnd || t >= nearOnlyEnd {
			near[i] = 0
		}
		if t >= doubleEnd && t < nearOnlyEnd {
			far[i] = 0
		}
	}
	samples := func(d time.Duration) int { return int(d.Seconds()*Rate + 0.5) }
	farFrom := samples(sc.FarFrom) / (Rate / 100) * (Rate / 100) // a whole period
	for i := range min(farFrom, n) {
		far[i] = 0
	}
	for _, u := range append(sc.Underruns, sc.SpeakerOff...) {
		for i := samples(u.At); i < min(samples(u.At+u.For), n); i++ {
			far[i] = 0
		}
	}
	off := func(i int) bool {
		for _, o := range sc.SpeakerOff {
			if i >= samples(o.At) && i < samples(o.At+o.For) {
				return true
			}
		}
		return false
	}
	farPCM := ToInt16(far)
	period := Rate / 100
	lat := int(sc.OutputLatency.Seconds() * Rate)
	d := int(sc.Delay.Seconds() * Rate)
	echo := make([]float64, n)
	for i := range n {
		if j := i - lat - d; j >= 0 {
			echo[i] = sc.Gain * float64(farPCM[j]) / 32767
		}
	}
	noise := &rng{s: 99}
	mic := make([]float64, n)
	for i := range n {
		mic[i] = echo[i] + near[i] + 3e-4*noise.gauss()
	}
	sig := Signals{Echo: ToInt16(echo), Near: ToInt16(near), Mic: ToInt16(mic)}
	sig.Out = append([]int16(nil), sig.Mic...)

	var now time.Duration
	ref := aec.NewReference(Rate, aec.WithClock(func() time.Duration { return now }))
	var epoch time.Duration // the run's start on the Reference's clock
	if sc.Reused {
		for k := range 100 {
			now = time.Duration(k) * 10 * time.Millisecond
			ref.Write(farPCM[k*period : (k+1)*period])
		}
		epoch = 11 * time.Second
	}
	p, err := aec.NewProcessor(Rate, ref, sc.Options)
	if err != nil {
		return Result{}, sig, err
	}
	defer p.Close()
	jit := &rng{s: 5}
	jitter := func() time.Duration {
		return time.Duration((jit.u()*2 - 1) * float64(sc.Jitter))
	}
	at := func(samples int) time.Duration { return time.Duration(int64(samples) * int64(time.Second) / Rate) }
	chunk := 2 * period
	for _, s := range sc.Stalls {
		if s.For > sc.OutputLatency {
			return Result{}, sig, fmt.Errorf("aectest: a stall of %v empties the sound card's queue of %v", s.For, sc.OutputLatency)
		}
	}
	// due is when the player's callback for the period starting at
	// sample i comes (in samples).
	due := func(i int) int {
		for _, s := range sc.Stalls {
			if from, to := samples(s.At), samples(s.At+s.For); i >= from && i < to {
				return to
			}
		}
		return i
	}
	written := farFrom / period // periods handed to the Reference (none before FarFrom)
	micFrom := samples(sc.MicFrom)
	dropped := func(end int) bool {
		for _, d := range sc.MicDrops {
			if end > samples(d.At) && end <= samples(d.At+d.For) {
				return true
			}
		}
		return false
	}
	lost := 0 // samples dropped since the last chunk processed
	for k := 0; (k+1)*period <= n; k++ {
		// The player's callbacks due by the start of period k (its own,
		// and a burst of held-back ones), each handed over at its start.
		for ; written <= k && due(written*period) <= k*period; written++ {
			if off(written * period) {
				continue
			}
			now = epoch + at(k*period) + jitter()
			ref.Write(farPCM[written*period : (written+1)*period])
		}
		// The capture callback delivers the period that just ended; the
		// reader takes it in 20 ms chunks, at once.
		end := (k + 1) * period
		if end%chunk == 0 && end-chunk >= micFrom {
			if dropped(end) {
				clear(sig.Out[end-chunk : end])
				lost += chunk
				continue
			}
			if lost > 0 && !sc.NoSkip {
				p.Skip(lost)
			}
			lost = 0
			now = epoch + at(end) + jitter()
			p.Process(sig.Out[end-chunk:end], now)
		}
	}
	st := p.Stats()
	res := measure(sc, sig)
	res.Stats = st
	if st.Audio > 0 {
		res.CPUPerSecond = time.Duration(float64(st.CPU) / st.Audio.Seconds())
	}
	return res, sig, nil
}

func power(x []int16) float64 {
	var e float64
	for _, v := range x {
		f := float64(v) / 32768
		e += f * f
	}
	return e / float64(len(x))
}

func db10(p float64) float64 {
	if p <= 1e-24 {
		return -240
	}
	return 10 * math.Log10(p)
}

// echoLevel is the echo's level in a window: the voice frequency for the
// tone, the mean square for speech (dB, comparable within one kind).
func echoLevel(far string, x []int16) float64 {
	if far == FarSpeech {
		return db10(power(x)) + 3.01 // AES17: a full-scale sine is 0
	}
	return analysis.LevelDBFS(x, Rate, VoiceHz)
}

func measure(sc Scenario, s Signals) Result {
	w := Rate / 10
	win := func(x []int16, t float64, width int) []int16 {
		i := int(t * Rate)
		return x[i : i+width]
	}
	var r Result
	mean := func(a, b float64, f func(t float64) (float64, bool)) float64 {
		var sum float64
		var k int
		for t := a; t+0.1 <= b+1e-9; t += 0.1 {
			if v, ok := f(t); ok {
				sum += v
				k++
			}
		}
		if k == 0 {
			return math.NaN()
		}
		return sum / float64(k)
	}
	// ERLE over a window: echo component before, everything after
	// (residual echo plus the noise floor); windows the DP is silent in
	// say nothing. Speech is measured over 500 ms so that syllable tails
	// do not dominate.
	width := w
	if sc.Far == FarSpeech {
		width = 5 * w
	}
	erle := func(t float64) (float64, bool) {
		e := win(s.Echo, t, width)
		if power(e) < 1e-6 {
			return 0, false
		}
		return echoLevel(sc.Far, e) - echoLevel(sc.Far, win(s.Out, t, width)), true
	}
	r.EchoDBFS = echoLevel(sc.Far, win(s.Echo, 3, 2*Rate))
	r.ResidualDBFS = echoLevel(sc.Far, win(s.Out, 3, 2*Rate))
	r.ERLE = r.EchoDBFS - r.ResidualDBFS
	r.ERLEAfterDT = echoLevel(sc.Far, win(s.Echo, 10, 2*Rate)) - echoLevel(sc.Far, win(s.Out, 10, 2*Rate))
	if sc.NoNear {
		r.ERLEAfterDT = echoLevel(sc.Far, win(s.Echo, 5, 7*Rate-width)) - echoLevel(sc.Far, win(s.Out, 5, 7*Rate-width))
	}
	r.Convergence = -1
	last := farOnlyEnd - float64(width)/Rate
	for t := 0.0; t <= last+1e-9; t += 0.1 {
		ok := true
		for u := t; u <= last+1e-9; u += 0.1 {
			if v, has := erle(u); has && v < 20 {
				ok = false
				break
			}
		}
		if ok {
			r.Convergence = time.Duration((t + float64(width)/Rate) * float64(time.Second)).Round(time.Millisecond)
			break
		}
	}
	loss := func(t float64) (float64, bool) {
		return analysis.LevelDBFS(win(s.Near, t, w), Rate, VisitorHz) - analysis.LevelDBFS(win(s.Out, t, w), Rate, VisitorHz), true
	}
	r.ERLEDTMin = math.NaN()
	if sc.Far != FarSpeech {
		r.ERLEDTMin = math.Inf(1)
		for t := farOnlyEnd; t+0.1 <= doubleEnd+1e-9; t += 0.1 {
			e, _ := erle(t)
			r.ERLEDTMin = math.Min(r.ERLEDTMin, e)
		}
	}
	if !sc.NoNear {
		r.NearLossDT = mean(farOnlyEnd, doubleEnd, loss)
		r.NearLossDTMax = math.Inf(-1)
		for t := farOnlyEnd; t+0.1 <= doubleEnd+1e-9; t += 0.1 {
			v, _ := loss(t)
			r.NearLossDTMax = math.Max(r.NearLossDTMax, v)
		}
		r.NearLossAlone = mean(doubleEnd+0.2, nearOnlyEnd, loss)
	}
	return r
}
