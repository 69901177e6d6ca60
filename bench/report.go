package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Chromium's CPU for the same call (docs/BEHAVIOUR.md section 14), in cores: kioskd's
// target is at most half of it.
const ChromiumCores = 0.27

// Results is everything one `make bench` measured (bench/results.json).
type Results struct {
	Machine Machine   `json:"machine"`
	Setup   Setup     `json:"setup"`
	Start   *Start    `json:"start,omitempty"`
	Recon   *Recon    `json:"reconnect,omitempty"`
	Steady  *Steady   `json:"steady,omitempty"`
	Cycles  *Cycles   `json:"cycles,omitempty"`
	Targets []Target  `json:"targets"`
	Notes   []string  `json:"notes,omitempty"`
	Took    Dur       `json:"took"`
	Errors  []string  `json:"errors,omitempty"`
	Ended   time.Time `json:"ended"`
}

// Setup is what was measured and how.
type Setup struct {
	Mode          string `json:"mode"` // full | quick
	Kioskd        string `json:"kioskd"`
	KioskdVersion string `json:"kioskd_version,omitempty"`
	Media         string `json:"media"`
	Server        string `json:"server"`
	StartRuns     int    `json:"start_runs"`
	ReconnectRuns int    `json:"reconnect_runs"`
	SteadySeconds int    `json:"steady_seconds"`
	Cycles        int    `json:"cycles"`
}

// Start is process start to Connected.
type Start struct {
	// Fresh: exec to the Connected line, fresh state (a new session).
	Fresh Stats `json:"fresh"`
	// Init: exec to the "kioskd started" line (runtime, config, wiring).
	Init Stats `json:"init"`
	// Connect: "kioskd started" to Connected on kioskd's own clock.
	Connect Stats `json:"connect"`
	// Resume: exec to Connected with a stored session (daemon restart).
	Resume      Stats `json:"resume"`
	ResumedSame int   `json:"resume_same_id"`
}

// Recon is controlDisconnected to Connected again.
type Recon struct {
	All   Stats `json:"all"`
	Close Stats `json:"close_control_disconnected"` // server sent close controlDisconnected
	Drop  Stats `json:"drop"`                       // server cut the socket without a word
	// Internal: kioskd's "disconnected: controlDisconnected" line to its
	// Connected line, on kioskd's clock.
	Internal Stats `json:"internal"`
	SameID   int   `json:"same_id"`
	Reasons  int   `json:"reason_control_disconnected"`
}

// Steady is the steady state of one Connected call.
type Steady struct {
	Seconds    float64 `json:"seconds"`
	CPUCores   float64 `json:"cpu_cores"` // kioskd utime+stime per second
	PSSMean    int64   `json:"pss_mean_bytes"`
	PSSMax     int64   `json:"pss_max_bytes"`
	RSSMean    int64   `json:"rss_mean_bytes"`
	RSSMax     int64   `json:"rss_max_bytes"`
	PSSAnon    int64   `json:"pss_anon_bytes"`
	PSSFile    int64   `json:"pss_file_bytes"`
	Threads    int     `json:"threads"`
	VideoFPS   float64 `json:"video_fps_at_server"`
	AudioPPS   float64 `json:"audio_packets_per_s_at_server"`
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	ServerCPU  float64 `json:"bench_process_cpu_cores"` // dpsim + harness, for context
	Floor      Floor   `json:"floor"`
	Ratio      float64 `json:"ratio_to_floor"`
	RatioTotal float64 `json:"ratio_to_floor_process"`
	// MediaFloor is libvpx and libopus alone on the same video and tone.
	MediaFloor Floor   `json:"media_floor"`
	MediaRatio float64 `json:"ratio_to_media_floor"`
	// Breakdown: kioskd with one kind of media only.
	CameraOnly *Steady `json:"camera_only,omitempty"`
	MicOnly    *Steady `json:"microphone_only,omitempty"`
}

// Floor is libvpx alone (av/vp8enc) encoding the same frames.
type Floor struct {
	Seconds     float64 `json:"seconds"`
	CPUCores    float64 `json:"cpu_cores"`         // the video encode loop's thread
	AudioCPU    float64 `json:"audio_cpu_cores"`   // the audio encode loop's thread (-audio)
	ProcessCPU  float64 `json:"process_cpu_cores"` // the whole floor process
	Frames      int     `json:"frames"`
	FPS         float64 `json:"fps"`
	Kbps        float64 `json:"kbps"`
	MsPerFrame  float64 `json:"cpu_ms_per_frame"`
	PSS         int64   `json:"pss_bytes"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	BitRate     int     `json:"bitrate"`
	Description string  `json:"description"`
}

// Snapshot is a process's resources at one moment.
type Snapshot struct {
	Cycle      int   `json:"cycle"`
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
	Threads    int   `json:"threads"`
	PSS        int64 `json:"pss_bytes"`
	RSS        int64 `json:"rss_bytes"`
	HeapInuse  int64 `json:"heap_inuse_bytes"`
	GoSys      int64 `json:"go_sys_bytes"`
}

// Cycles is N reconnect cycles in one process.
type Cycles struct {
	N       int        `json:"n"`
	Done    int        `json:"done"`
	SameID  int        `json:"same_id"`
	Cycle   Stats      `json:"cycle"`
	Start   Snapshot   `json:"start"`
	End     Snapshot   `json:"end"`
	Samples []Snapshot `json:"samples"`
	Took    Dur        `json:"took"`
	Backoff string     `json:"backoff"`
}

// Target is one line of docs/BEHAVIOUR.md section 14 and whether it is met.
type Target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Dur is a duration that reads well in JSON.
type Dur time.Duration

func (d Dur) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Round(time.Millisecond).String())
}

// MB formats bytes as MiB.
func MB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Evaluate fills r.Targets from the measurements.
func (r *Results) Evaluate() {
	r.Targets = nil
	add := func(name, target, measured string, met bool) {
		r.Targets = append(r.Targets, Target{name, target, measured, met})
	}
	if s := r.Start; s != nil {
		add("process start → Connected", "median < 150 ms",
			fmt.Sprintf("median %.1f ms, p95 %.1f ms (n=%d)", s.Fresh.Median, s.Fresh.P95, s.Fresh.N), s.Fresh.N > 0 && s.Fresh.Median < 150)
	}
	if c := r.Recon; c != nil {
		add("controlDisconnected → Connected (same id)", "< 300 ms + backoff (backoff is 0: reconnect at once)",
			fmt.Sprintf("median %.1f ms, p95 %.1f ms (n=%d, same id %d/%d)", c.All.Median, c.All.P95, c.All.N, c.SameID, c.All.N),
			c.All.N > 0 && c.All.P95 < 300 && c.SameID == c.All.N)
	}
	if s := r.Steady; s != nil {
		add("steady memory (PSS)", "< 40 MB", fmt.Sprintf("mean %s, max %s (RSS %s)", MB(s.PSSMean), MB(s.PSSMax), MB(s.RSSMax)), s.PSSMax > 0 && s.PSSMax < 40<<20)
		add("CPU vs libvpx alone", "≤ 1.2×", fmt.Sprintf("%.3f / %.3f cores = %.2f×", s.CPUCores, s.Floor.CPUCores, s.Ratio), s.Ratio > 0 && s.Ratio <= 1.2)
		add("CPU vs Chromium (0.27 cores, docs/BEHAVIOUR.md section 14)", "≤ 0.5× (≤ 0.135 cores)", fmt.Sprintf("%.3f cores = %.2f×", s.CPUCores, s.CPUCores/ChromiumCores), s.CPUCores > 0 && s.CPUCores <= ChromiumCores/2)
	}
	if c := r.Cycles; c != nil {
		add(fmt.Sprintf("%d reconnect cycles: goroutines", c.N), "back to baseline",
			fmt.Sprintf("%d → %d", c.Start.Goroutines, c.End.Goroutines), c.Done == c.N && c.End.Goroutines <= c.Start.Goroutines)
		add(fmt.Sprintf("%d reconnect cycles: file descriptors", c.N), "flat",
			fmt.Sprintf("%d → %d", c.Start.FDs, c.End.FDs), c.Done == c.N && c.End.FDs <= c.Start.FDs)
		grow := c.End.PSS - c.Start.PSS
		add(fmt.Sprintf("%d reconnect cycles: memory", c.N), "growth < 5 MB",
			fmt.Sprintf("PSS %s → %s (%+.1f MiB); RSS %s → %s", MB(c.Start.PSS), MB(c.End.PSS), float64(grow)/(1<<20), MB(c.Start.RSS), MB(c.End.RSS)),
			c.Done == c.N && grow < 5<<20)
	}
}

// Markdown renders the results as the README's tables.
func (r *Results) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s on %s, %d cores (%s, %s), load average at start %s, at end %s; mode %s; took %s.\n",
		m.Date.Format("2006-01-02 15:04 UTC"), m.CPUModel, m.Cores, m.Kernel, m.GoVersion, m.LoadStart, m.LoadEnd, r.Setup.Mode, time.Duration(r.Took).Round(time.Second))
	fmt.Fprintf(&b, "kioskd %s; %s; %s.\n\n", r.Setup.KioskdVersion, r.Setup.Media, r.Setup.Server)
	b.WriteString("| target (docs/BEHAVIOUR.md section 14) | wanted | measured | met |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		met := "**no**"
		if t.Met {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Target, t.Measured, met)
	}
	b.WriteString("\n| measurement | n | median | p95 | min | max |\n|---|---|---|---|---|---|\n")
	row := func(name string, s Stats) {
		if s.N == 0 {
			return
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", name, s.N, s.Median, s.P95, s.Min, s.Max)
	}
	if s := r.Start; s != nil {
		row("start → Connected, fresh session (exec to the log line)", s.Fresh)
		row("… of which exec → \"kioskd started\" (runtime, config, wiring)", s.Init)
		row("… of which \"kioskd started\" → Connected (kioskd's clock)", s.Connect)
		row(fmt.Sprintf("start → Connected, resuming the stored session (same id %d/%d)", s.ResumedSame, s.Resume.N), s.Resume)
	}
	if c := r.Recon; c != nil {
		row("controlDisconnected → Connected, all (server action to the log line)", c.All)
		row("… server sent close controlDisconnected", c.Close)
		row("… server cut the socket without a word", c.Drop)
		row("… kioskd's own lines (disconnected → Connected)", c.Internal)
	}
	if c := r.Cycles; c != nil {
		row(fmt.Sprintf("one reconnect cycle of %d (drop/close → Connected)", c.N), c.Cycle)
	}
	if s := r.Steady; s != nil {
		fmt.Fprintf(&b, "\nSteady state over %.0f s, Connected (%dx%d at %.1f fps and %.0f audio packets/s arriving at dpsim):\n\n",
			s.Seconds, s.Width, s.Height, s.VideoFPS, s.AudioPPS)
		b.WriteString("| process | CPU (cores) | PSS | RSS |\n|---|---|---|---|\n")
		fmt.Fprintf(&b, "| kioskd | %.3f | %s mean, %s max (anon %s, file %s) | %s mean, %s max |\n", s.CPUCores, MB(s.PSSMean), MB(s.PSSMax), MB(s.PSSAnon), MB(s.PSSFile), MB(s.RSSMean), MB(s.RSSMax))
		f := s.Floor
		fmt.Fprintf(&b, "| libvpx alone via av/vp8enc (%s): encode loop | %.3f (%.2f ms/frame, %.1f fps, %.0f kbit/s) | | |\n", f.Description, f.CPUCores, f.MsPerFrame, f.FPS, f.Kbps)
		fmt.Fprintf(&b, "| … the whole floor process | %.3f | %s | |\n", f.ProcessCPU, MB(f.PSS))
		fmt.Fprintf(&b, "| ratio kioskd / libvpx alone | %.2f× (%.2f× of the floor process) | | |\n", s.Ratio, s.RatioTotal)
		if mf := s.MediaFloor; mf.CPUCores > 0 {
			fmt.Fprintf(&b, "| libvpx + libopus alone (the same video, and the 440 Hz tone at 32 kbit/s): encode loops | %.3f (video %.3f + audio %.3f) | | |\n", mf.CPUCores+mf.AudioCPU, mf.CPUCores, mf.AudioCPU)
			fmt.Fprintf(&b, "| … the whole process | %.3f | %s | |\n", mf.ProcessCPU, MB(mf.PSS))
			fmt.Fprintf(&b, "| ratio kioskd / (libvpx + libopus alone) | %.2f× | | |\n", s.MediaRatio)
		}
		if c, m := s.CameraOnly, s.MicOnly; c != nil && m != nil {
			fmt.Fprintf(&b, "| kioskd, camera only (`microphone: none`) | %.3f (%.2f× libvpx alone) | %s | %s |\n", c.CPUCores, c.CPUCores/max(s.Floor.CPUCores, 1e-9), MB(c.PSSMean), MB(c.RSSMean))
			fmt.Fprintf(&b, "| kioskd, microphone only (`camera: none`) | %.3f (%.2f× libopus alone) | %s | %s |\n", m.CPUCores, m.CPUCores/max(s.MediaFloor.AudioCPU, 1e-9), MB(m.PSSMean), MB(m.RSSMean))
		}
		fmt.Fprintf(&b, "| (bench process: in-process dpsim + harness) | %.3f | | |\n", s.ServerCPU)
	}
	if c := r.Cycles; c != nil {
		fmt.Fprintf(&b, "\n%d reconnect cycles in one kioskd process (alternately a drop and a close controlDisconnected; %s), %d/%d back to Connected with the same id, in %s:\n\n",
			c.N, c.Backoff, c.SameID, c.Done, time.Duration(c.Took).Round(time.Second))
		b.WriteString("| after cycle | goroutines | fds | threads | PSS | RSS | Go heap in use |\n|---|---|---|---|---|---|---|\n")
		snaps := append(append([]Snapshot{c.Start}, c.Samples...), c.End)
		for i, s := range snaps {
			label := fmt.Sprint(s.Cycle)
			switch i {
			case 0:
				label = "0 (baseline: 5 s settled, median of 5 s)"
			case len(snaps) - 1:
				label = fmt.Sprintf("%d (end: 5 s settled, median of 5 s)", s.Cycle)
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s |\n", label, s.Goroutines, s.FDs, s.Threads, MB(s.PSS), MB(s.RSS), MB(s.HeapInuse))
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "\n**error:** %s\n", e)
	}
	return b.String()
}

// WriteJSON writes r to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
