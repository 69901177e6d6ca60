package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/prop"
	"golang.org/x/sys/unix"

	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/av/vp8enc"
	"github.com/kioskd/kioskd/bench"
)

// floorMain is `kioskbench floor`: libvpx alone, through av/vp8enc with
// the parameters kioskd uses (media.Codecs: 500 kbit/s CBR, real time),
// encoding the synthetic pattern kioskd's `camera: test` makes, paced at
// the frame rate (rate control works on arrival times, so frames must come
// at the camera's pace). It prints a bench.Floor as JSON.
func floorMain(args []string) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	seconds := fs.Duration("for", 60*time.Second, "measurement window")
	warmup := fs.Duration("warmup", 5*time.Second, "encode this long before measuring")
	w := fs.Int("width", 640, "")
	h := fs.Int("height", 480, "")
	fps := fs.Int("fps", 15, "")
	bitrate := fs.Int("bitrate", 500_000, "bits/s")
	withVideo := fs.Bool("video", true, "encode the video (VP8, av/vp8enc)")
	withAudio := fs.Bool("audio", false, "also encode the synthetic 440 Hz tone with Opus at 32 kbit/s, as kioskd's `microphone: test` (mediadevices' libopus encoder)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	threadCPU := func() time.Duration {
		var ru unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	audioCPU := make(chan float64, 1)
	if *withAudio {
		op, err := opus.NewParams()
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 1
		}
		op.BitRate = 32000
		aenc, err := op.BuildAudioEncoder(synthetic.NewTone(440, 48000), prop.Media{Audio: prop.Audio{SampleRate: 48000, ChannelCount: 1}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 1
		}
		go func() {
			// Its own OS thread, so its CPU can be read alone.
			runtime.LockOSThread()
			start := time.Now()
			var t0 time.Time
			var c0 time.Duration
			for {
				now := time.Now()
				if t0.IsZero() && now.Sub(start) >= *warmup {
					t0, c0 = now, threadCPU()
				}
				if !t0.IsZero() && now.Sub(t0) >= *seconds {
					audioCPU <- (threadCPU() - c0).Seconds() / now.Sub(t0).Seconds()
					return
				}
				if _, release, err := aenc.Read(); err != nil {
					fmt.Fprintln(os.Stderr, "floor: opus:", err)
					audioCPU <- 0
					return
				} else {
					release()
				}
			}
		}()
	} else {
		audioCPU <- 0
	}
	if !*withVideo {
		pid := os.Getpid()
		time.Sleep(*warmup)
		p0, _ := bench.CPUTime(pid)
		t0 := time.Now()
		a := <-audioCPU
		el := time.Since(t0)
		p1, _ := bench.CPUTime(pid)
		mem, _ := bench.ReadMemory(pid)
		out := bench.Floor{Seconds: el.Seconds(), AudioCPU: a, ProcessCPU: (p1 - p0).Seconds() / el.Seconds(), PSS: mem.PSS,
			Description: "synthetic 440 Hz tone, Opus 48 kHz mono 32 kbit/s"}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			return 1
		}
		return 0
	}
	// The encode loop on one OS thread, so its CPU can be read alone.
	runtime.LockOSThread()
	src := synthetic.NewVideo(*w, *h, *fps)
	enc, err := vp8enc.NewEncoder(src, prop.Media{Video: prop.Video{Width: *w, Height: *h, FrameRate: float32(*fps)}}, vp8enc.Params{BitRate: *bitrate})
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return 1
	}
	defer enc.Close()
	pid := os.Getpid()
	start := time.Now()
	measuring := false
	var t0 time.Time
	var th0, pr0 time.Duration
	frames, bytes := 0, 0
	for {
		now := time.Now()
		if !measuring && now.Sub(start) >= *warmup {
			measuring = true
			t0, th0 = now, threadCPU()
			pr0, _ = bench.CPUTime(pid)
		}
		if measuring && now.Sub(t0) >= *seconds {
			break
		}
		b, release, err := enc.Read()
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			return 1
		}
		release()
		if measuring {
			frames++
			bytes += len(b)
		}
	}
	el := time.Since(t0)
	th := threadCPU() - th0
	a := <-audioCPU
	pr1, _ := bench.CPUTime(pid)
	mem, _ := bench.ReadMemory(pid)
	out := bench.Floor{
		Seconds:     el.Seconds(),
		CPUCores:    th.Seconds() / el.Seconds(),
		ProcessCPU:  (pr1 - pr0).Seconds() / el.Seconds(),
		Frames:      frames,
		FPS:         float64(frames) / el.Seconds(),
		Kbps:        float64(bytes) * 8 / 1000 / el.Seconds(),
		PSS:         mem.PSS,
		Width:       *w,
		Height:      *h,
		BitRate:     *bitrate,
		Description: fmt.Sprintf("synthetic %dx%d pattern at %d fps, %d kbit/s CBR", *w, *h, *fps, *bitrate/1000),
		AudioCPU:    a,
	}
	if frames > 0 {
		out.MsPerFrame = float64(th) / float64(time.Millisecond) / float64(frames)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 1
	}
	return 0
}
