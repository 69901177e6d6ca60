package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/pion/mediadevices/pkg/prop"
	"golang.org/x/sys/unix"

	"github.com/kioskd/kioskd/bench"
	"github.com/kioskd/kioskd/media/synthetic"
	"github.com/kioskd/kioskd/media/vp8enc"
)

// floorMain is `kioskbench floor`: libvpx alone, through media/vp8enc with
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
	if err := fs.Parse(args); err != nil {
		return 2
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
	threadCPU := func() time.Duration {
		var ru unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
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
	}
	if frames > 0 {
		out.MsPerFrame = float64(th) / float64(time.Millisecond) / float64(frames)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return 1
	}
	return 0
}
