package bench_test

// `make bench-aec`: the echo canceller on the simulated acoustic path
// (audio/aec/aectest, frame-counted): ERLE, convergence time and the
// visitor's loss at 20, 60 and 120 ms for dpsim's 880 Hz voice and for a
// speech-like voice, and the CPU cost of the audio processing per second
// of audio (one core of this machine), for each combination of
// echo cancellation, noise suppression and automatic gain.

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/audio/aec/aectest"
)

func BenchmarkAECScenario(b *testing.B) {
	for _, far := range []string{aectest.FarTone, aectest.FarSpeech} {
		for _, d := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
			b.Run(fmt.Sprintf("%s/%v", far, d), func(b *testing.B) {
				var r aectest.Result
				for i := 0; i < b.N; i++ {
					var err error
					r, _, err = aectest.Run(aectest.Scenario{Far: far, Delay: d, Options: aec.Options{EchoCancellation: true}})
					if err != nil {
						b.Fatal(err)
					}
				}
				conv := float64(r.Convergence.Milliseconds())
				b.ReportMetric(r.ERLE, "ERLE_dB")
				b.ReportMetric(r.ERLEAfterDT, "ERLE_after_doubletalk_dB")
				b.ReportMetric(conv, "converge_ms")
				b.ReportMetric(r.NearLossDTMax, "visitor_loss_dB")
				b.ReportMetric(r.Stats.DelayMS, "delay_ms")
				b.ReportMetric(0, "ns/op")
				b.Logf("%s, %v: %v", far, d, r)
			})
		}
	}
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAECCPU(b *testing.B) {
	const seconds = 10
	n := seconds * aectest.Rate
	far := aectest.ToInt16(aectest.Speech(n, 7, 0.3))
	nearF := aectest.Speech(n, 9, 0.2)
	mic := make([]int16, n)
	d := 60 * aectest.Rate / 1000
	for i := range mic {
		v := nearF[i]
		if i >= d {
			v += 0.5 * float64(far[i-d]) / 32767
		}
		mic[i] = int16(v * 32767)
	}
	for _, c := range []struct {
		name string
		opt  aec.Options
	}{
		{"echo", aec.Options{EchoCancellation: true}},
		{"echo+noise+gain", aec.Options{EchoCancellation: true, NoiseSuppression: true, AutoGain: true}},
		{"noise+gain", aec.Options{NoiseSuppression: true, AutoGain: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			buf := make([]int16, 960)
			var cpu time.Duration
			var audio time.Duration
			for i := 0; i < b.N; i++ {
				var now time.Duration
				ref := aec.NewReference(aectest.Rate, aec.WithClock(func() time.Duration { return now }))
				p, err := aec.NewProcessor(aectest.Rate, ref, c.opt)
				if err != nil {
					b.Fatal(err)
				}
				t0 := threadCPU()
				for k := 0; k+960 <= n; k += 960 {
					now = time.Duration(int64(k) * int64(time.Second) / aectest.Rate)
					ref.Write(far[k : k+480])
					ref.Write(far[k+480 : k+960])
					copy(buf, mic[k:k+960])
					now += 20 * time.Millisecond
					p.Process(buf, now)
				}
				cpu += threadCPU() - t0
				audio += seconds * time.Second
				p.Close()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/audio.Seconds(), "cpu_ms/s_audio")
			b.ReportMetric(100*cpu.Seconds()/audio.Seconds(), "%core")
		})
	}
}
