package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// The name may hold spaces and parentheses; utime=150, stime=50 ticks.
	line := "4242 (kiosk d) (x)) S 1 4242 4242 0 -1 4194560 1204 0 0 0 150 50 0 0 20 0 12 0 1000 1000000 2000 18446744073709551615"
	d, err := parseStatCPU([]byte(line))
	if err != nil || d != 2*time.Second {
		t.Fatalf("got %v, %v; want 2s", d, err)
	}
	if _, err := parseStatCPU([]byte("4242 (kioskd) S 1")); err == nil {
		t.Fatal("a short line parsed")
	}
}

func TestParseRollup(t *testing.T) {
	in := `55d0c0a4a000-7ffd5b1f0000 ---p 00000000 00:00 0                          [rollup]
Rss:               37140 kB
Pss:               34021 kB
Pss_Dirty:         17000 kB
Pss_Anon:          18000 kB
Pss_File:          16021 kB
Pss_Shmem:             0 kB
`
	m, err := parseRollup([]byte(in))
	if err != nil || m.RSS != 37140<<10 || m.PSS != 34021<<10 || m.PSSAnon != 18000<<10 || m.PSSFile != 16021<<10 {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := parseRollup([]byte("Rss: 1 kB\n")); err == nil {
		t.Fatal("no Pss accepted")
	}
}

func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	if _, err := CPUTime(pid); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadMemory(pid); err != nil || m.PSS <= 0 || m.RSS < m.PSS {
		t.Fatalf("%+v %v", m, err)
	}
	if n, err := OpenFDs(pid); err != nil || n < 3 {
		t.Fatalf("%d %v", n, err)
	}
	if n, err := Threads(pid); err != nil || n < 1 {
		t.Fatalf("%d %v", n, err)
	}
}

func TestSummarise(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 20; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := Summarise(ds)
	if s.N != 20 || s.Median != 10.5 || s.P95 != 19 || s.Min != 1 || s.Max != 20 || s.Mean != 10.5 {
		t.Fatalf("%+v", s)
	}
	if s := Summarise([]time.Duration{3 * time.Millisecond}); s.Median != 3 || s.P95 != 3 {
		t.Fatalf("%+v", s)
	}
	if s := Summarise(nil); s.N != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestEvaluateAndMarkdown(t *testing.T) {
	r := &Results{
		Start:  &Start{Fresh: Stats{N: 20, Median: 30, P95: 40}},
		Recon:  &Recon{All: Stats{N: 20, Median: 12, P95: 20}, SameID: 20},
		Steady: &Steady{CPUCores: 0.05, PSSMax: 35 << 20, Floor: Floor{CPUCores: 0.02}, Ratio: 2.5},
		Cycles: &Cycles{N: 1000, Done: 1000, Start: Snapshot{Goroutines: 53, FDs: 16, PSS: 33 << 20}, End: Snapshot{Goroutines: 53, FDs: 16, PSS: 35 << 20}},
	}
	r.Evaluate()
	met := map[string]bool{}
	for _, tg := range r.Targets {
		met[tg.Name] = tg.Met
	}
	want := map[string]bool{
		"process start → Connected": true, "controlDisconnected → Connected (same id)": true,
		"steady memory (PSS)": true, "CPU vs libvpx alone": false, "CPU vs Chromium (0.27 cores, docs/BEHAVIOUR.md section 14)": true,
		"1000 reconnect cycles: goroutines": true, "1000 reconnect cycles: file descriptors": true, "1000 reconnect cycles: memory": true,
	}
	for k, v := range want {
		if got, ok := met[k]; !ok || got != v {
			t.Errorf("%s: met=%v (present %v), want %v", k, got, ok, v)
		}
	}
	if md := r.Markdown(); !strings.Contains(md, "| CPU vs libvpx alone | ≤ 1.2× |") || !strings.Contains(md, "**no**") {
		t.Fatalf("markdown:\n%s", md)
	}
}
