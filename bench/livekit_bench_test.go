//go:build livekit

package bench_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/kioskd/kioskd/bench"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
)

// BenchmarkLiveKit measures a real kioskd process (bin/kioskd, or the
// binary in KIOSKD_BENCH_BIN) with server.dialect: livekit against a local
// livekit-server (--dev, loopback) in which a Digital Person participant
// (livekittest: 160x120 VP8 at 10 fps and an Opus voice) waits:
// process start → Connected (KIOSKD_BENCH_LK_RUNS fresh starts, default
// 5), then the steady PSS and CPU of one Connected process (3 s warm-up,
// 10 s window), the DP receiving the kiosk's media throughout. `make
// bench-livekit` runs it (docs/LIVEKIT.md, "Measurements").
func BenchmarkLiveKit(b *testing.B) {
	bin := os.Getenv("KIOSKD_BENCH_BIN")
	if bin == "" {
		bin = "../bin/kioskd"
	}
	bin, _ = filepath.Abs(bin)
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("no kioskd binary (%v): make bench-bins, or set KIOSKD_BENCH_BIN", err)
	}
	runs := 5
	if n, err := strconv.Atoi(os.Getenv("KIOSKD_BENCH_LK_RUNS")); err == nil && n > 0 {
		runs = n
	}
	srv := livekittest.Start(b)
	const room = "bench"
	dp := srv.JoinDP(b, room, "dp-bench")
	lab, err := bench.NewLab(b.TempDir(), bench.LabConfig{
		URL: srv.URL, Token: livekittest.Token(b, room, "kiosk-bench", false), Dialect: "livekit",
	})
	if err != nil {
		b.Fatal(err)
	}
	connected := func(p *bench.Proc) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, _, err := p.WaitFor(ctx, 0, bench.IsConnected); err != nil {
			_ = p.Stop(5 * time.Second)
			b.Fatalf("kioskd did not reach Connected: %v", err)
		}
	}

	var starts []time.Duration
	for range runs {
		_ = os.RemoveAll(lab.StateDir) // a fresh session each time
		p, err := bench.StartKioskd(bin, lab)
		if err != nil {
			b.Fatal(err)
		}
		connected(p)
		recs, _ := p.Records()
		for _, r := range recs {
			if bench.IsConnected(r) {
				starts = append(starts, r.Seen.Sub(p.Started))
				break
			}
		}
		if err := p.Stop(5 * time.Second); err != nil {
			b.Fatal(err)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	st := bench.Summarise(starts)

	_ = os.RemoveAll(lab.StateDir)
	p, err := bench.StartKioskd(bin, lab)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	connected(p)
	time.Sleep(3 * time.Second) // warm-up: the window is what is measured, not a synchronisation
	before := dp.Received()
	cpu0, _ := bench.CPUTime(p.Pid())
	t0 := time.Now()
	var pss, rss []int64
	for range 10 {
		time.Sleep(time.Second) // sampling interval
		m, err := bench.ReadMemory(p.Pid())
		if err != nil {
			b.Fatal(err)
		}
		pss, rss = append(pss, m.PSS), append(rss, m.RSS)
	}
	cpu1, _ := bench.CPUTime(p.Pid())
	window := time.Since(t0)
	after := dp.Received()
	if after.AudioPackets-before.AudioPackets < 100 || after.VideoFrames-before.VideoFrames < 50 {
		b.Fatalf("the DP received too little of the kiosk in the window: %+v then %+v", before, after)
	}
	mean := func(v []int64) float64 {
		var s int64
		for _, x := range v {
			s += x
		}
		return float64(s) / float64(len(v)) / (1 << 20)
	}
	peak := func(v []int64) float64 {
		m := v[0]
		for _, x := range v {
			m = max(m, x)
		}
		return float64(m) / (1 << 20)
	}
	cores := float64(cpu1-cpu0) / float64(window)
	fmt.Printf("livekit dialect, %s; load %s\n", bin, bench.LoadAvg())
	fmt.Printf("| what | value |\n|---|---|\n")
	fmt.Printf("| process start → Connected (%d fresh starts) | median %.0f ms, min %.0f, max %.0f |\n", len(starts), st.Median, st.Min, st.Max)
	fmt.Printf("| steady PSS, Connected (10 s) | mean %.1f MiB, max %.1f MiB (RSS mean %.1f MiB) |\n", mean(pss), peak(pss), mean(rss))
	fmt.Printf("| steady CPU | %.3f cores |\n", cores)
	fmt.Printf("| at the DP in the window | %d audio packets, %d video frames |\n",
		after.AudioPackets-before.AudioPackets, after.VideoFrames-before.VideoFrames)
	b.ReportMetric(st.Median, "start-ms")
	b.ReportMetric(mean(pss), "PSS-MiB")
	b.ReportMetric(cores, "cores")
}
