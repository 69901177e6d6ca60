// Command kioskbench measures kioskd against the targets of docs/BEHAVIOUR.md section 14
// (`make bench`, `make bench-quick`): a real kioskd process (bin/kioskd,
// built without -race) against dpsim running in this process on loopback,
// with zero step delays, synthetic 640x480 video at 15 fps (VP8, 500 kbit/s)
// and a synthetic tone (Opus).
//
//	kioskbench [-quick] [-kioskd bin/kioskd] [-out bench/results.json] [-readme bench/README.md]
//	kioskbench floor [-for 60s]     libvpx alone on the same frames (run by the harness)
//
// With -profile DIR and -pprof-kioskd (bench/cmd/kioskd-pprof, kioskd with a
// hidden KIOSKD_PPROF listener) it also saves a CPU and a heap profile of a
// steady call into DIR.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kioskd/kioskd/bench"
	"github.com/kioskd/kioskd/dpsim"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		os.Exit(floorMain(os.Args[2:]))
	}
	os.Exit(run())
}

type options struct {
	kioskd, out, readme, only    string
	quick, noFloor, strict       bool
	startRuns, reconRuns, cycles int
	steady, warmup, breakdown    time.Duration
	profileDir, pprofKioskd      string
	profileFor                   time.Duration
	kioskdEnv                    string
}

func run() int {
	var o options
	flag.StringVar(&o.kioskd, "kioskd", "bin/kioskd", "the kioskd binary (go build, no -race)")
	flag.StringVar(&o.out, "out", "bench/results.json", "write the results as JSON here (empty: do not)")
	flag.StringVar(&o.readme, "readme", "", "rewrite the results section of this README (empty: do not)")
	flag.BoolVar(&o.quick, "quick", false, "fewer runs and a 10 s steady state (CI smoke)")
	flag.BoolVar(&o.strict, "strict", false, "exit 3 when a target is missed (by default only failures to measure fail)")
	flag.BoolVar(&o.noFloor, "no-floor", false, "steady: measure kioskd only (no libvpx/libopus floors, no breakdown), e.g. to compare builds")
	flag.IntVar(&o.startRuns, "start-runs", 20, "process starts")
	flag.IntVar(&o.reconRuns, "reconnect-runs", 20, "controlDisconnected → Connected runs")
	flag.IntVar(&o.cycles, "cycles", 1000, "reconnect cycles in one process")
	flag.DurationVar(&o.steady, "steady", 60*time.Second, "steady-state window")
	flag.DurationVar(&o.warmup, "warmup", 10*time.Second, "Connected this long before the steady window opens")
	flag.DurationVar(&o.breakdown, "breakdown", 20*time.Second, "steady window of kioskd with the camera only and the microphone only (0: skip)")
	flag.StringVar(&o.only, "only", "", "comma-separated subset: start,reconnect,steady,cycles")
	flag.StringVar(&o.profileDir, "profile", "", "save pprof profiles of a steady call here (needs -pprof-kioskd)")
	flag.StringVar(&o.pprofKioskd, "pprof-kioskd", "", "kioskd built from bench/cmd/kioskd-pprof (KIOSKD_PPROF)")
	flag.DurationVar(&o.profileFor, "profile-for", 30*time.Second, "CPU profile length")
	flag.StringVar(&o.kioskdEnv, "kioskd-env", "", "comma-separated VAR=value added to kioskd's environment (e.g. GOMAXPROCS=1)")
	flag.Parse()
	if o.quick {
		o.startRuns, o.reconRuns, o.cycles = 5, 5, 100
		o.steady, o.warmup, o.breakdown = 10*time.Second, 3*time.Second, 0
	}
	if _, err := os.Stat(o.kioskd); err != nil {
		fmt.Fprintf(os.Stderr, "kioskbench: %v (make bench builds it)\n", err)
		return 2
	}
	want := func(part string) bool {
		if o.only == "" {
			return true
		}
		for _, p := range strings.Split(o.only, ",") {
			if strings.TrimSpace(p) == part {
				return true
			}
		}
		return false
	}

	began := time.Now()
	res := &bench.Results{Machine: bench.ReadMachine()}
	res.Setup = bench.Setup{
		Mode: "full", Kioskd: o.kioskd, StartRuns: o.startRuns, ReconnectRuns: o.reconRuns,
		SteadySeconds: int(o.steady / time.Second), Cycles: o.cycles,
		Media:  "synthetic camera 640x480 at 15 fps, VP8 500 kbit/s (av/vp8enc), synthetic 440 Hz tone, Opus 48 kHz 32 kbit/s, no speaker, no LEDs",
		Server: "dpsim in the bench process on 127.0.0.1, zero step delays, ICE on loopback",
	}
	if o.quick {
		res.Setup.Mode = "quick"
	}
	if v, err := exec.Command(o.kioskd, "version").Output(); err == nil {
		res.Setup.KioskdVersion = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(v)), "kioskd "))
	}
	fmt.Printf("kioskbench: %s, %d cores, load %s; kioskd %s\n", res.Machine.CPUModel, res.Machine.Cores, res.Machine.LoadStart, res.Setup.KioskdVersion)

	tmp, err := os.MkdirTemp("", "kioskbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "kioskbench:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	srv, err := newServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kioskbench:", err)
		return 1
	}
	defer srv.dp.Close()
	h := &harness{o: o, srv: srv, tmp: tmp}

	fail := func(what string, err error) {
		msg := fmt.Sprintf("%s: %v", what, err)
		fmt.Fprintln(os.Stderr, "kioskbench:", msg)
		res.Errors = append(res.Errors, msg)
	}
	if want("start") {
		if res.Start, err = h.start(); err != nil {
			fail("start", err)
		}
	}
	if want("reconnect") {
		if res.Recon, err = h.reconnect(); err != nil {
			fail("reconnect", err)
		}
	}
	if want("steady") {
		if res.Steady, err = h.steadyAndFloor(); err != nil {
			fail("steady", err)
		}
		if o.profileDir != "" {
			if err := h.profile(); err != nil {
				fail("profile", err)
			}
		}
	}
	if want("cycles") {
		if res.Cycles, err = h.reconnectCycles(); err != nil {
			fail("cycles", err)
		}
	}
	res.Machine.LoadEnd = bench.LoadAvg()
	res.Took = bench.Dur(time.Since(began))
	res.Ended = time.Now().UTC().Truncate(time.Second)
	res.Notes = append(res.Notes,
		"Times are taken by the harness: from just before exec (or before the server's close/drop) to reading kioskd's Connected log line on its stderr pipe.",
		"CPU is utime+stime from /proc/PID/stat over the window; memory is Pss/Rss from /proc/PID/smaps_rollup sampled every second.",
		"The libvpx floor is `kioskbench floor`: av/vp8enc alone with kioskd's parameters on the same synthetic frames, paced at 15 fps, its encode loop's thread CPU (RUSAGE_THREAD).",
		"The machine is shared (2 vCPUs); see the load averages above.")
	res.Evaluate()
	md := res.Markdown()
	fmt.Println()
	fmt.Println(md)
	if o.out != "" {
		if err := res.WriteJSON(o.out); err != nil {
			fmt.Fprintln(os.Stderr, "kioskbench:", err)
			return 1
		}
		fmt.Println("wrote", o.out)
	}
	if o.readme != "" {
		if err := updateReadme(o.readme, md); err != nil {
			fmt.Fprintln(os.Stderr, "kioskbench:", err)
			return 1
		}
		fmt.Println("updated", o.readme)
	}
	if len(res.Errors) > 0 {
		return 1
	}
	if o.strict {
		for _, t := range res.Targets {
			if !t.Met {
				fmt.Fprintf(os.Stderr, "kioskbench: target missed: %s (%s; measured %s)\n", t.Name, t.Target, t.Measured)
				return 3
			}
		}
	}
	return 0
}

const (
	beginMark = "<!-- kioskbench:begin -->"
	endMark   = "<!-- kioskbench:end -->"
)

// updateReadme replaces what lies between the marks (or appends them).
func updateReadme(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(b)
	block := beginMark + "\n" + md + "\n" + endMark
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i >= 0 && j > i {
		s = s[:i] + block + s[j+len(endMark):]
	} else {
		s += "\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

type server struct {
	dp    *dpsim.Server
	url   string
	token string
}

func newServer() (*server, error) {
	token := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	dp, err := dpsim.New(dpsim.Config{Token: token, ICELoopbackOnly: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	addr, err := dp.Listen("127.0.0.1:0")
	if err != nil {
		dp.Close()
		return nil, err
	}
	return &server{dp: dp, url: "ws://" + addr.String() + dpsim.ControlPath, token: token}, nil
}

func (s *server) session(id string) (dpsim.SessionInfo, bool) {
	for _, x := range s.dp.Sessions() {
		if x.ID == id {
			return x, true
		}
	}
	return dpsim.SessionInfo{}, false
}

type harness struct {
	o   options
	srv *server
	tmp string
}

// env is what -kioskd-env adds to every kioskd started.
func (h *harness) env() []string {
	if h.o.kioskdEnv == "" {
		return nil
	}
	return strings.Split(h.o.kioskdEnv, ",")
}

func (h *harness) lab(c bench.LabConfig) (*bench.Lab, error) {
	c.URL, c.Token = h.srv.url, h.srv.token
	return bench.NewLab(h.tmp, c)
}

// startConnected starts bin on lab and waits (20 s at most) for its first
// Connected line; on failure nothing is left running.
func startConnected(bin string, lab *bench.Lab, env []string) (*bench.Proc, bench.Record, error) {
	p, err := bench.StartKioskd(bin, lab, env...)
	if err != nil {
		return nil, bench.Record{}, err
	}
	rec, _, err := waitConnected(p, 0, 20*time.Second)
	if err != nil {
		p.Stop(5 * time.Second)
		return nil, bench.Record{}, err
	}
	return p, rec, nil
}

func waitConnected(p *bench.Proc, from int, within time.Duration) (bench.Record, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return p.WaitFor(ctx, from, bench.IsConnected)
}

// start: exec to Connected, a fresh session, then the same again resuming
// the stored session (a daemon restart).
func (h *harness) start() (*bench.Start, error) {
	fmt.Printf("start → Connected: %d fresh starts and %d restarts resuming the stored session\n", h.o.startRuns, h.o.startRuns)
	var fresh, initD, connect, resume []time.Duration
	same := 0
	for i := 0; i < h.o.startRuns; i++ {
		lab, err := h.lab(bench.LabConfig{})
		if err != nil {
			return nil, err
		}
		var firstID string
		for pass := 0; pass < 2; pass++ {
			p, rec, err := startConnected(h.o.kioskd, lab, h.env())
			if err != nil {
				return nil, err
			}
			d := rec.Seen.Sub(p.Started)
			if pass == 0 {
				firstID = rec.ID
				fresh = append(fresh, d)
				if st, _, err := p.WaitFor(context.Background(), 0, func(r bench.Record) bool { return r.Msg == "kioskd started" }); err == nil {
					initD = append(initD, st.Seen.Sub(p.Started))
					connect = append(connect, rec.Time.Sub(st.Time))
				}
			} else {
				resume = append(resume, d)
				if rec.ID == firstID {
					same++
				}
			}
			if err := p.Stop(5 * time.Second); err != nil {
				return nil, fmt.Errorf("stop: %w", err)
			}
		}
		fmt.Printf("  run %2d: fresh %6.1f ms, resume %6.1f ms\n", i+1, ms(fresh[len(fresh)-1]), ms(resume[len(resume)-1]))
	}
	return &bench.Start{Fresh: bench.Summarise(fresh), Init: bench.Summarise(initD), Connect: bench.Summarise(connect),
		Resume: bench.Summarise(resume), ResumedSame: same}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// flapGuard: the supervisor answers the first quick drop at once and later
// ones with backoff when the session was Connected for less than 5 s; the
// reconnect measurement keeps each session up longer, so the figure is
// the reconnect itself (backoff 0).
const flapGuard = 5500 * time.Millisecond

func (h *harness) reconnect() (*bench.Recon, error) {
	fmt.Printf("controlDisconnected → Connected: %d runs, alternately close controlDisconnected and a drop, each after %s Connected\n", h.o.reconRuns, flapGuard)
	lab, err := h.lab(bench.LabConfig{})
	if err != nil {
		return nil, err
	}
	p, rec, err := startConnected(h.o.kioskd, lab, h.env())
	if err != nil {
		return nil, err
	}
	defer p.Stop(5 * time.Second)
	id := rec.ID
	lastUp := rec.Seen
	var all, closeD, dropD, internal []time.Duration
	out := &bench.Recon{}
	for i := 0; i < h.o.reconRuns; i++ {
		time.Sleep(time.Until(lastUp.Add(flapGuard)))
		from := p.Len()
		drop := i%2 == 1
		t0 := time.Now()
		var n int
		if drop {
			n = h.srv.dp.Drop()
		} else {
			n, err = h.srv.dp.CloseAll(dpsim.ReasonControlDisconnected, "kioskbench")
			if err != nil {
				return nil, err
			}
		}
		if n != 1 {
			return nil, fmt.Errorf("run %d: the server acted on %d sessions, want 1", i, n)
		}
		rec, idx, err := waitConnected(p, from, 20*time.Second)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", i, err)
		}
		d := rec.Seen.Sub(t0)
		all = append(all, d)
		if drop {
			dropD = append(dropD, d)
		} else {
			closeD = append(closeD, d)
		}
		if rec.ID == id {
			out.SameID++
		}
		recs, _ := p.Records()
		for _, r := range recs[from:idx] {
			if r.Reason != "" {
				if r.Reason == "controlDisconnected" {
					out.Reasons++
				}
				internal = append(internal, rec.Time.Sub(r.Time))
				break
			}
		}
		lastUp = rec.Seen
		kind := "close"
		if drop {
			kind = "drop "
		}
		fmt.Printf("  run %2d (%s): %6.1f ms, same id %v\n", i+1, kind, ms(d), rec.ID == id)
	}
	out.All, out.Close, out.Drop, out.Internal = bench.Summarise(all), bench.Summarise(closeD), bench.Summarise(dropD), bench.Summarise(internal)
	return out, nil
}

// steadyAndFloor measures a Connected kioskd over the window, then libvpx
// alone on the same frames for as long, then libvpx and libopus alone on
// the same video and tone; with -breakdown also kioskd with only a camera
// and only a microphone.
func (h *harness) steadyAndFloor() (*bench.Steady, error) {
	fmt.Printf("steady state: %s warm-up, then %s\n", h.o.warmup, h.o.steady)
	st, err := h.steady(h.o.kioskd, bench.LabConfig{}, nil)
	if err != nil {
		return nil, err
	}
	fmt.Printf("  kioskd: %.3f cores, PSS %s (max %s), RSS %s; %.1f fps, %.0f audio packets/s at the server\n",
		st.CPUCores, bench.MB(st.PSSMean), bench.MB(st.PSSMax), bench.MB(st.RSSMax), st.VideoFPS, st.AudioPPS)
	if h.o.noFloor {
		return st, nil
	}
	fmt.Printf("libvpx alone (floor): %s\n", h.o.steady)
	if err := floor(h.o.steady, &st.Floor); err != nil {
		return nil, err
	}
	fmt.Printf("  floor: %.3f cores (process %.3f), %.2f ms/frame, %.1f fps, %.0f kbit/s\n",
		st.Floor.CPUCores, st.Floor.ProcessCPU, st.Floor.MsPerFrame, st.Floor.FPS, st.Floor.Kbps)
	if st.Floor.CPUCores > 0 {
		st.Ratio = st.CPUCores / st.Floor.CPUCores
	}
	if st.Floor.ProcessCPU > 0 {
		st.RatioTotal = st.CPUCores / st.Floor.ProcessCPU
	}
	fmt.Printf("libvpx + libopus alone (media floor): %s\n", h.o.steady)
	if err := floor(h.o.steady, &st.MediaFloor, "-audio"); err != nil {
		return nil, err
	}
	if f := st.MediaFloor.CPUCores + st.MediaFloor.AudioCPU; f > 0 {
		st.MediaRatio = st.CPUCores / f
	}
	fmt.Printf("  media floor: video %.3f + audio %.3f cores (process %.3f)\n", st.MediaFloor.CPUCores, st.MediaFloor.AudioCPU, st.MediaFloor.ProcessCPU)
	if h.o.breakdown > 0 {
		o := h.o
		h.o.steady, h.o.warmup = o.breakdown, min(o.warmup, 5*time.Second)
		defer func() { h.o = o }()
		fmt.Printf("breakdown: kioskd with the camera only, then the microphone only, %s each\n", h.o.steady)
		if st.CameraOnly, err = h.steady(o.kioskd, bench.LabConfig{NoMicrophone: true}, nil); err != nil {
			return nil, err
		}
		if st.MicOnly, err = h.steady(o.kioskd, bench.LabConfig{NoCamera: true}, nil); err != nil {
			return nil, err
		}
		fmt.Printf("  camera only %.3f cores, microphone only %.3f cores\n", st.CameraOnly.CPUCores, st.MicOnly.CPUCores)
	}
	return st, nil
}

// floor runs `kioskbench floor` for d and decodes its result into f.
func floor(d time.Duration, f *bench.Floor, args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, append([]string{"floor", "-for", d.String(), "-warmup", "3s"}, args...)...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	if err := json.Unmarshal(b, f); err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	return nil
}

// steady runs bin Connected through the warm-up and the window. during, if
// set, runs in the window (profiling).
func (h *harness) steady(bin string, lc bench.LabConfig, during func(p *bench.Proc) error, env ...string) (*bench.Steady, error) {
	lab, err := h.lab(lc)
	if err != nil {
		return nil, err
	}
	p, rec, err := startConnected(bin, lab, append(h.env(), env...))
	if err != nil {
		return nil, err
	}
	defer p.Stop(5 * time.Second)
	time.Sleep(h.o.warmup)
	pid, self := p.Pid(), os.Getpid()
	s0, _ := h.srv.session(rec.ID)
	c0, err := bench.CPUTime(pid)
	if err != nil {
		return nil, err
	}
	b0, _ := bench.CPUTime(self)
	t0 := time.Now()
	connects := countConnected(p)
	errc := make(chan error, 1)
	if during != nil {
		go func() { errc <- during(p) }()
	} else {
		errc <- nil
	}
	var pss, rss []int64
	var last bench.Memory
	tick := time.NewTicker(time.Second)
	for time.Since(t0) < h.o.steady {
		<-tick.C
		m, err := bench.ReadMemory(pid)
		if err != nil {
			tick.Stop()
			return nil, err
		}
		pss, rss, last = append(pss, m.PSS), append(rss, m.RSS), m
	}
	tick.Stop()
	c1, err := bench.CPUTime(pid)
	if err != nil {
		return nil, err
	}
	b1, _ := bench.CPUTime(self)
	el := time.Since(t0)
	s1, _ := h.srv.session(rec.ID)
	if err := <-errc; err != nil {
		return nil, err
	}
	if n := countConnected(p); n != connects || !s1.Connected {
		return nil, fmt.Errorf("the call did not stay Connected through the window (%d Connected lines, server says connected=%v)", n-connects, s1.Connected)
	}
	threads, _ := bench.Threads(pid)
	st := &bench.Steady{
		Seconds:   el.Seconds(),
		CPUCores:  (c1 - c0).Seconds() / el.Seconds(),
		ServerCPU: (b1 - b0).Seconds() / el.Seconds(),
		PSSAnon:   last.PSSAnon, PSSFile: last.PSSFile,
		Threads:  threads,
		VideoFPS: float64(s1.Video.Frames-s0.Video.Frames) / el.Seconds(),
		AudioPPS: float64(s1.Audio.Packets-s0.Audio.Packets) / el.Seconds(),
		Width:    s1.Video.Width, Height: s1.Video.Height,
	}
	st.PSSMean, st.PSSMax = meanMax(pss)
	st.RSSMean, st.RSSMax = meanMax(rss)
	return st, nil
}

func countConnected(p *bench.Proc) int {
	recs, _ := p.Records()
	n := 0
	for _, r := range recs {
		if bench.IsConnected(r) {
			n++
		}
	}
	return n
}

func meanMax(v []int64) (int64, int64) {
	if len(v) == 0 {
		return 0, 0
	}
	var sum, mx int64
	for _, x := range v {
		sum += x
		mx = max(mx, x)
	}
	return sum / int64(len(v)), mx
}

// profile runs a steady call of the pprof build and saves its profiles.
func (h *harness) profile() error {
	if h.o.pprofKioskd == "" {
		return errors.New("-profile needs -pprof-kioskd")
	}
	if err := os.MkdirAll(h.o.profileDir, 0o755); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	fmt.Printf("profiling a steady call of %s for %s into %s\n", h.o.pprofKioskd, h.o.profileFor, h.o.profileDir)
	save := func(name, url string) error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		f, err := os.Create(filepath.Join(h.o.profileDir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(f, resp.Body)
		return err
	}
	o := h.o
	h.o.steady = o.profileFor + 2*time.Second
	defer func() { h.o = o }()
	st, err := h.steady(o.pprofKioskd, bench.LabConfig{}, func(p *bench.Proc) error {
		base := "http://" + addr + "/debug/pprof/"
		if err := save("cpu.pprof", fmt.Sprintf("%sprofile?seconds=%d", base, int(o.profileFor/time.Second))); err != nil {
			return err
		}
		if err := save("heap.pprof", base+"heap"); err != nil {
			return err
		}
		return save("goroutine.txt", base+"goroutine?debug=1")
	}, "KIOSKD_PPROF="+addr)
	if err != nil {
		return err
	}
	fmt.Printf("  (profiled build: %.3f cores, PSS %s)\n", st.CPUCores, bench.MB(st.PSSMax))
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// reconnectCycles: N cycles in one kioskd process, alternately a drop and
// a close controlDisconnected, with the process's goroutines (from its
// metrics endpoint), descriptors and memory at the start and the end.
func (h *harness) reconnectCycles() (*bench.Cycles, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The supervisor backs off from the second quick drop on (a server
	// that flaps); cycles come back to back, so the backoff is set to
	// 1 ms: what is measured is what a reconnect leaves behind.
	lab, err := h.lab(bench.LabConfig{InitialDelay: time.Millisecond, MaxDelay: time.Millisecond, MetricsListen: addr})
	if err != nil {
		return nil, err
	}
	n := h.o.cycles
	fmt.Printf("%d reconnect cycles in one process\n", n)
	p, rec, err := startConnected(h.o.kioskd, lab, h.env())
	if err != nil {
		return nil, err
	}
	defer p.Stop(5 * time.Second)
	id := rec.ID
	metricsURL := "http://" + addr + "/metrics"
	settle := 5 * time.Second
	time.Sleep(settle)
	out := &bench.Cycles{N: n, Backoff: "reconnect backoff set to 1 ms, since the supervisor backs off a server that drops a session within 5 s twice"}
	out.Start, err = settled(p.Pid(), metricsURL, 0)
	if err != nil {
		return nil, err
	}
	fmt.Printf("  baseline: %+v\n", out.Start)
	began := time.Now()
	var cycle []time.Duration
	every := max(1, n/10)
	for i := 0; i < n; i++ {
		from := p.Len()
		t0 := time.Now()
		if i%2 == 0 {
			h.srv.dp.Drop()
		} else if _, err := h.srv.dp.CloseAll(dpsim.ReasonControlDisconnected, "kioskbench"); err != nil {
			return nil, err
		}
		rec, _, err := waitConnected(p, from, 30*time.Second)
		if err != nil {
			return out, fmt.Errorf("cycle %d: %w", i, err)
		}
		cycle = append(cycle, rec.Seen.Sub(t0))
		out.Done++
		if rec.ID == id {
			out.SameID++
		}
		if (i+1)%every == 0 && i+1 < n {
			s, err := snapshot(p.Pid(), metricsURL, i+1)
			if err == nil {
				out.Samples = append(out.Samples, s)
				fmt.Printf("  after %4d: goroutines %d, fds %d, PSS %s\n", i+1, s.Goroutines, s.FDs, bench.MB(s.PSS))
			}
		}
	}
	out.Took = bench.Dur(time.Since(began))
	out.Cycle = bench.Summarise(cycle)
	time.Sleep(settle)
	out.End, err = settled(p.Pid(), metricsURL, n)
	if err != nil {
		return out, err
	}
	fmt.Printf("  end:      %+v\n", out.End)
	return out, nil
}

// settled is the median of five snapshots a second apart: one snapshot of
// a Go process's memory depends on where the GC cycle happens to be.
func settled(pid int, metricsURL string, cycle int) (bench.Snapshot, error) {
	var ss []bench.Snapshot
	for i := 0; i < 5; i++ {
		if i > 0 {
			time.Sleep(time.Second)
		}
		s, err := snapshot(pid, metricsURL, cycle)
		if err != nil {
			return s, err
		}
		ss = append(ss, s)
	}
	med := func(f func(bench.Snapshot) int64) int64 {
		v := make([]int64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return bench.Snapshot{
		Cycle:      cycle,
		Goroutines: int(med(func(s bench.Snapshot) int64 { return int64(s.Goroutines) })),
		FDs:        int(med(func(s bench.Snapshot) int64 { return int64(s.FDs) })),
		Threads:    int(med(func(s bench.Snapshot) int64 { return int64(s.Threads) })),
		PSS:        med(func(s bench.Snapshot) int64 { return s.PSS }),
		RSS:        med(func(s bench.Snapshot) int64 { return s.RSS }),
		HeapInuse:  med(func(s bench.Snapshot) int64 { return s.HeapInuse }),
		GoSys:      med(func(s bench.Snapshot) int64 { return s.GoSys }),
	}, nil
}

func snapshot(pid int, metricsURL string, cycle int) (bench.Snapshot, error) {
	s := bench.Snapshot{Cycle: cycle}
	var err error
	// Descriptors and memory first: the scrape briefly adds a connection.
	if s.FDs, err = bench.OpenFDs(pid); err != nil {
		return s, err
	}
	m, err := bench.ReadMemory(pid)
	if err != nil {
		return s, err
	}
	s.PSS, s.RSS = m.PSS, m.RSS
	s.Threads, _ = bench.Threads(pid)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mt, err := bench.Metrics(ctx, metricsURL)
	if err != nil {
		return s, err
	}
	// Counted while serving the scrape (one goroutine more than idle,
	// the same in every snapshot).
	s.Goroutines = int(mt["go_goroutines"])
	s.HeapInuse = int64(mt["go_memstats_heap_inuse_bytes"])
	s.GoSys = int64(mt["go_memstats_sys_bytes"])
	return s, nil
}
