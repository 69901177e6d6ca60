package aec_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/audio/aec/aectest"
	"github.com/kioskd/kioskd/av/analysis"
)

// The acceptance, on the simulated acoustic path (frame-counted):
// the DP's voice comes back from the speaker 20, 60 and 120 ms late at
// -6 dB, with the visitor's 440 Hz over it for 3 s (double talk) and then
// alone. Without cancellation the echo is there; with it the echo falls
// by at least 20 dB within 2 s of audio and stays down after the double
// talk, and the visitor loses at most 6 dB in any 100 ms window.
func TestEchoCancelledAtSeveralDelays(t *testing.T) {
	for _, far := range []string{aectest.FarTone, aectest.FarSpeech} {
		for _, delay := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/%v", far, delay), func(t *testing.T) {
				off, _, err := aectest.Run(aectest.Scenario{Far: far, Delay: delay})
				if err != nil {
					t.Fatal(err)
				}
				// Off: what comes back is the DP's voice at -6 dB.
				if off.ERLE > 1 || off.EchoDBFS < -30 {
					t.Fatalf("without cancellation: %v", off)
				}
				if far == aectest.FarTone && math.Abs(off.EchoDBFS-(-16.5)) > 0.5 {
					t.Fatalf("echo %.1f dBFS, want the 880 Hz at -16.5 (0.3 of full scale, -6 dB)", off.EchoDBFS)
				}
				on, _, err := aectest.Run(aectest.Scenario{Far: far, Delay: delay, Options: aec.Options{EchoCancellation: true}})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%v", on)
				if on.ERLE < 20 || on.ERLEAfterDT < 20 {
					t.Errorf("ERLE %.1f dB, %.1f dB after double talk; want >= 20", on.ERLE, on.ERLEAfterDT)
				}
				if on.Convergence < 0 || on.Convergence > 2*time.Second {
					t.Errorf("converged after %v of audio, want <= 2s", on.Convergence)
				}
				if on.NearLossDTMax > 6 || on.NearLossAlone > 6 {
					t.Errorf("visitor lost %.1f dB (worst window) in double talk, %.1f dB alone; want <= 6", on.NearLossDTMax, on.NearLossAlone)
				}
				// Speech carries the delay: it is estimated (the device
				// latency, 20 ms, plus the acoustic delay, less the 10 ms
				// of timing slack). A steady tone carries it only in its
				// onset: an estimate, if made, must be right; without one
				// the filter cancels a tone at any lag.
				want := float64((delay + 10*time.Millisecond).Milliseconds())
				if (far == aectest.FarSpeech && !on.Stats.Estimated) || (on.Stats.Estimated && math.Abs(on.Stats.DelayMS-want) > 2) {
					t.Errorf("delay %.1f ms (estimated %v), want %.0f estimated", on.Stats.DelayMS, on.Stats.Estimated, want)
				}
				if far == aectest.FarTone && on.ERLEDTMin < 20 {
					t.Errorf("ERLE %.1f dB in the worst window of double talk, want >= 20", on.ERLEDTMin)
				}
			})
		}
	}
}

// The callbacks of real devices do not come on the dot: the timestamps of
// both sides jitter by up to 4 ms; the reference is still placed without
// smearing and the delay still found.
func TestEchoCancelledWithCallbackJitter(t *testing.T) {
	r, _, err := aectest.Run(aectest.Scenario{Far: aectest.FarSpeech, Delay: 60 * time.Millisecond, Jitter: 4 * time.Millisecond,
		Options: aec.Options{EchoCancellation: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	if r.ERLE < 20 || r.Convergence < 0 || r.Convergence > 2*time.Second || !r.Stats.Estimated || r.Stats.Resyncs != 0 {
		t.Fatalf("with jitter: %v, %+v", r, r.Stats)
	}
}

// On a loaded board the player's callbacks come in bursts: held back for
// as long as the sound card's queue lasts, then several at once. The echo
// does not move (the card plays on from its queue); only the far end
// reaches the Reference late. A steady tone is what gives no delay
// estimate (here until it restarts at 9 s), so the filter stays where it
// started. Held back by a whole 20 ms queue, once while the DP talks alone
// and once in double talk, the filter must not be moved (a move restarts
// it) and the echo stays cancelled. With a queue of 60 ms, longer than
// the allowance for lateness, the first burst (40 ms) moves the filter
// once, with room for the next, longer ones (60 ms). Frame-counted, like
// every aectest scenario.
func TestLatePlayerCallbacksDoNotRestartTheFilter(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, c := range []struct {
		name                  string
		delay, queue, micFrom time.Duration
		stalls                []aectest.Stall
		late                  float64 // ms the far end is late at worst, beyond the 10 ms of timing slack
		moves                 int64   // the delay estimate at 9 s included
	}{
		{"queue 20ms", ms(20), ms(20), 0, []aectest.Stall{{At: ms(3000), For: ms(20)}, {At: ms(6500), For: ms(20)}}, 10, 1},
		{"queue 60ms", ms(5), ms(60), ms(500), []aectest.Stall{{At: ms(1000), For: ms(40)}, {At: ms(3000), For: ms(60)}, {At: ms(6500), For: ms(60)}}, 50, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, _, err := aectest.Run(aectest.Scenario{Far: aectest.FarTone, Delay: c.delay, OutputLatency: c.queue, MicFrom: c.micFrom,
				Stalls: c.stalls, Options: aec.Options{EchoCancellation: true}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v; %+v", r, r.Stats)
			if r.Stats.LateMS != c.late {
				t.Fatalf("the far end was at most %.1f ms late, want %.0f", r.Stats.LateMS, c.late)
			}
			if r.Stats.Holes != 0 {
				t.Errorf("%d far-end samples fed to the filter as silence", r.Stats.Holes)
			}
			if r.Convergence < 0 || r.Convergence > 2*time.Second || r.ERLE < 20 || r.ERLEDTMin < 20 || r.ERLEAfterDT < 20 {
				t.Errorf("with late callbacks: %v", r)
			}
			if r.Stats.Realigns > c.moves {
				t.Errorf("filter moved %d times, want at most %d", r.Stats.Realigns, c.moves)
			}
		})
	}
}

// kioskd opens the speaker when the DP's first audio packet arrives, after
// the microphone: until then the Reference has nothing, not even silence
// (or, in a later session after the speaker failed, only what a player
// handed over long before). That is no lateness of the far end. Taken for
// some (up to 100 ms), it kept the filter that far back for good, past an
// echo that comes sooner: speech at 20 and 60 ms was not cancelled at all
// (ERLE 1 dB), and a tone only by the filter's luck with a periodic
// signal, lost at every break of the voice. With an old reference the
// timelines also "jumped" 47 times. The filter must sit where the echo
// is, moved by nothing but the delay estimate.
func TestSpeakerOpenedAfterTheMicrophone(t *testing.T) {
	for _, reused := range []bool{false, true} {
		for _, far := range []string{aectest.FarTone, aectest.FarSpeech} {
			for _, delay := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
				if reused && delay == 120*time.Millisecond {
					continue
				}
				t.Run(fmt.Sprintf("reused=%v/%s/%v", reused, far, delay), func(t *testing.T) {
					r, _, err := aectest.Run(aectest.Scenario{Far: far, Delay: delay, FarFrom: 300 * time.Millisecond, Reused: reused,
						Options: aec.Options{EchoCancellation: true}})
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%v; %+v", r, r.Stats)
					if r.Stats.LateMS != 0 || r.Stats.Holes != 0 {
						t.Errorf("far end %.0f ms late, %d samples fed as silence: nothing was late, the speaker had not started", r.Stats.LateMS, r.Stats.Holes)
					}
					if r.Stats.Realigns > 1 || r.Stats.Resyncs != 0 {
						t.Errorf("filter moved %d times, timelines jumped %d times; want one move (to the first estimate), no jump", r.Stats.Realigns, r.Stats.Resyncs)
					}
					checkFilterOnEcho(t, far, r.Stats)
					if r.ERLE < 20 || r.ERLEAfterDT < 20 || r.Convergence < 0 || r.Convergence > 2*time.Second {
						t.Errorf("ERLE %.1f dB, %.1f dB after double talk, converged after %v; want >= 20 dB within 2 s", r.ERLE, r.ERLEAfterDT, r.Convergence)
					}
				})
			}
		}
	}
}

// checkFilterOnEcho: speech gives a delay estimate, and the filter covers
// an estimated delay.
func checkFilterOnEcho(t *testing.T, far string, st aec.Stats) {
	t.Helper()
	const tail = 64 // ms, the default
	if far == aectest.FarSpeech && !st.Estimated {
		t.Errorf("speech gave no delay estimate")
	}
	if st.Estimated && (st.DelayMS <= st.FilterMS || st.DelayMS > st.FilterMS+tail) {
		t.Errorf("delay %.1f ms estimated, but the filter covers %.1f to %.1f ms", st.DelayMS, st.FilterMS, st.FilterMS+tail)
	}
}

// A speaker that fails while the DP talks, and is opened again later (the
// Sink retries): for its first 100 ms gone it looks like a late player
// (the far end stops growing), and the filter is moved back for it; once
// the Reference says no player runs, that was no lateness and the filter
// goes back to the echo. It stayed moved for good: after a 150 ms or 2 s
// outage at 2.5 s, speech was no longer cancelled (ERLE after the double
// talk 1.4 to 2.6 dB, far end "90 ms late"), and a 2 s outage made the
// timelines "jump" 27 times.
func TestSpeakerThatFailsIsNotLate(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, off := range []time.Duration{ms(150), ms(2000)} {
		for _, delay := range []time.Duration{ms(20), ms(60)} {
			t.Run(fmt.Sprintf("off %v/%v", off, delay), func(t *testing.T) {
				r, _, err := aectest.Run(aectest.Scenario{Far: aectest.FarSpeech, Delay: delay, SpeakerOff: []aectest.Stall{{At: ms(2500), For: off}},
					Options: aec.Options{EchoCancellation: true}})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%v; %+v", r, r.Stats)
				if r.Stats.LateMS != 0 || r.Stats.Resyncs != 0 {
					t.Errorf("far end %.0f ms late, timelines jumped %d times: the speaker was gone, nothing was late or jumped", r.Stats.LateMS, r.Stats.Resyncs)
				}
				checkFilterOnEcho(t, aectest.FarSpeech, r.Stats)
				if r.ERLEAfterDT < 20 {
					t.Errorf("ERLE %.1f dB after double talk, want >= 20: %v", r.ERLEAfterDT, r)
				}
			})
		}
	}
}

// A longer device latency (a USB card with big buffers, 60 ms) and the
// longest acoustic delay: 190 ms in all, within the search range.
func TestEchoCancelledWithLongDeviceLatency(t *testing.T) {
	r, _, err := aectest.Run(aectest.Scenario{Far: aectest.FarSpeech, Delay: 120 * time.Millisecond, OutputLatency: 60 * time.Millisecond,
		Options: aec.Options{EchoCancellation: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	if r.ERLE < 20 || r.Convergence < 0 || r.Convergence > 2*time.Second || math.Abs(r.Stats.DelayMS-170) > 2 {
		t.Fatalf("long latency: %v", r)
	}
}

// The reference's timeline: contiguous blocks stay contiguous whatever the
// jitter of their timestamps; a break (a new player) leaves silence.
func TestReferenceTimeline(t *testing.T) {
	var now time.Duration
	ref := aec.NewReference(48000, aec.WithClock(func() time.Duration { return now }))
	block := func(v int16) []int16 {
		b := make([]int16, 480)
		for i := range b {
			b[i] = v
		}
		return b
	}
	for k := 0; k < 10; k++ {
		now = time.Duration(k)*10*time.Millisecond + time.Duration(k%3)*time.Millisecond // jitter
		ref.Write(block(int16(k + 1)))
	}
	// A break of a second, then a new player.
	now = 1100 * time.Millisecond
	ref.Write(block(100))
	got := aec.ReadReference(ref, 0, 4800)
	for k := 0; k < 10; k++ {
		if got[k*480] != int16(k+1) || got[k*480+479] != int16(k+1) {
			t.Fatalf("block %d at %d: %d", k, k*480, got[k*480])
		}
	}
	after := aec.ReadReference(ref, 4800, 48000+480)
	for i, v := range after[:len(after)-480] {
		if v != 0 {
			t.Fatalf("gap at %d reads %d, want silence", 4800+i, v)
		}
	}
	if after[len(after)-480] != 100 {
		t.Fatalf("the new player's block is not at its time: %v", after[len(after)-481:len(after)-478])
	}
	if s := ref.Stats(); s.Breaks != 1 || s.Written != 11*480 {
		t.Fatalf("stats %+v", s)
	}
}

// Noise suppression takes a steady noise floor down and leaves speech;
// automatic gain brings a quiet talker up. Neither needs a speaker.
func TestNoiseSuppressionAndAutoGain(t *testing.T) {
	const n = 6 * aectest.Rate
	speech := aectest.Speech(n, 3, 0.3)
	noise := aectest.WhiteNoise(n, 11, 0.01) // -40 dBFS RMS
	run := func(opt aec.Options, in []float64) []int16 {
		p, err := aec.NewProcessor(aectest.Rate, nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pcm := aectest.ToInt16(in)
		for i := 0; i+960 <= len(pcm); i += 960 {
			p.Process(pcm[i:i+960], 0)
		}
		return pcm
	}
	// Noise alone, then speech over it.
	mixed := make([]float64, n)
	for i := range mixed {
		mixed[i] = noise[i]
		if i >= n/2 {
			mixed[i] += speech[i]
		}
	}
	out := run(aec.Options{NoiseSuppression: true}, mixed)
	in := aectest.ToInt16(mixed)
	noiseIn, noiseOut := analysis.RMSDBFS(in[2*aectest.Rate:3*aectest.Rate]), analysis.RMSDBFS(out[2*aectest.Rate:3*aectest.Rate])
	speechIn, speechOut := analysis.RMSDBFS(in[4*aectest.Rate:]), analysis.RMSDBFS(out[4*aectest.Rate:])
	t.Logf("noise %.1f -> %.1f dBFS; speech+noise %.1f -> %.1f dBFS", noiseIn, noiseOut, speechIn, speechOut)
	if noiseIn-noiseOut < 10 {
		t.Errorf("noise suppression took the noise down by only %.1f dB", noiseIn-noiseOut)
	}
	if speechIn-speechOut > 3 {
		t.Errorf("noise suppression took speech down by %.1f dB", speechIn-speechOut)
	}

	quiet := aectest.Speech(n, 5, 0.02) // about -30 dBFS RMS
	out = run(aec.Options{AutoGain: true}, quiet)
	in = aectest.ToInt16(quiet)
	gain := analysis.RMSDBFS(out[4*aectest.Rate:]) - analysis.RMSDBFS(in[4*aectest.Rate:])
	t.Logf("auto gain: %.1f dB", gain)
	if gain < 6 {
		t.Errorf("auto gain raised a quiet talker by %.1f dB only", gain)
	}

	// All off: the processor leaves the audio alone.
	p, err := aec.NewProcessor(aectest.Rate, nil, aec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Enabled() {
		t.Fatal("a processor with nothing on says it is enabled")
	}
	if _, err := aec.NewProcessor(aectest.Rate, nil, aec.Options{EchoCancellation: true}); err == nil {
		t.Fatal("echo cancellation without a reference was accepted")
	}
}

// A reader that falls behind loses microphone audio (audio.Microphone drops
// its oldest). Told how much (Skip), the processor keeps the two timelines
// aligned: no jump, no new delay estimate, the echo stays cancelled. The
// same loss untold reads as a jump of the timelines (the control).
func TestMicrophoneDropsKeepTheTimelinesAligned(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// 140 ms each: beyond the 100 ms a jump is taken for, and not a whole
	// number of the 880 Hz tone's periods (a tone shifted by whole periods
	// would not notice a misalignment).
	drops := []aectest.Stall{{At: ms(2500), For: ms(140)}, {At: ms(9000), For: ms(140)}}
	for _, far := range []string{aectest.FarTone, aectest.FarSpeech} {
		t.Run(far, func(t *testing.T) {
			sc := aectest.Scenario{Far: far, Delay: ms(60), MicDrops: drops, Options: aec.Options{EchoCancellation: true}}
			r, _, err := aectest.Run(sc)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v; %+v", r, r.Stats)
			if r.Stats.Skipped != 2*140*48 {
				t.Errorf("skipped %d samples, want %d", r.Stats.Skipped, 2*140*48)
			}
			if r.Stats.Resyncs != 0 {
				t.Errorf("%d timeline jumps after dropped microphone audio, want 0", r.Stats.Resyncs)
			}
			if r.ERLE < 20 || r.ERLEAfterDT < 20 {
				t.Errorf("with dropped microphone audio: %v", r)
			}
			sc.NoSkip = true
			ctrl, _, err := aectest.Run(sc)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("control: %v; %+v", ctrl, ctrl.Stats)
			if ctrl.Stats.Resyncs == 0 {
				t.Errorf("control: the same loss, untold, should read as a jump of the timelines: %+v", ctrl.Stats)
			}
		})
	}
}
