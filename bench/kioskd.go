package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Lab is a kioskd configuration in a temporary folder.
type Lab struct {
	Dir, Config, StateDir string
}

// LabConfig is what a bench run varies in kioskd's config.
type LabConfig struct {
	URL, Token string
	// Dialect is server.dialect ("": the default, kioskd.dp.v1).
	Dialect string
	Width   int // 0: 640x480 at 15 fps
	Height  int
	FPS     int
	// InitialDelay and MaxDelay set session.reconnect; zero: the defaults (1 s, 30 s).
	InitialDelay, MaxDelay time.Duration
	// MetricsListen, if set, is status.metrics_listen.
	MetricsListen string
	// NoCamera, NoMicrophone set media.camera or media.microphone to none.
	NoCamera, NoMicrophone bool
}

// NewLab writes kioskd.yaml (synthetic camera and microphone, no speaker,
// no LEDs) and the token file into a new folder under parent.
func NewLab(parent string, c LabConfig) (*Lab, error) {
	dir, err := os.MkdirTemp(parent, "lab-")
	if err != nil {
		return nil, err
	}
	if c.Width == 0 {
		c.Width, c.Height, c.FPS = 640, 480, 15
	}
	l := &Lab{Dir: dir, Config: filepath.Join(dir, "kioskd.yaml"), StateDir: filepath.Join(dir, "state")}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(c.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  url: %s\n  token_file: %s\n", c.URL, token)
	if c.Dialect != "" {
		fmt.Fprintf(&b, "  dialect: %s\n", c.Dialect)
	}
	fmt.Fprintf(&b, "session:\n  state_dir: %s\n", l.StateDir)
	if c.InitialDelay > 0 {
		fmt.Fprintf(&b, "  reconnect: {initial_delay: %s, max_delay: %s}\n", c.InitialDelay, max(c.MaxDelay, c.InitialDelay))
	}
	camera, mic := "test", "test"
	if c.NoCamera {
		camera = "none"
	}
	if c.NoMicrophone {
		mic = "none"
	}
	fmt.Fprintf(&b, "media:\n  camera: %s\n  width: %d\n  height: %d\n  fps: %d\n  microphone: %s\n  microphone_required: %v\n  speaker: none\n",
		camera, c.Width, c.Height, c.FPS, mic, !c.NoMicrophone)
	fmt.Fprintf(&b, "leds:\n  backend: none\nstatus:\n  socket: %s\n", filepath.Join(dir, "status.sock"))
	if c.MetricsListen != "" {
		fmt.Fprintf(&b, "  metrics_listen: %s\n", c.MetricsListen)
	}
	if err := os.WriteFile(l.Config, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	return l, nil
}

// Record is one JSON log line of kioskd, with when the bench read it.
type Record struct {
	Seen   time.Time
	Time   time.Time // kioskd's own time stamp
	Msg    string
	State  string // connection_state
	ID     string // session_id
	Err    string // error_name
	Reason string // disconnect_reason
	Raw    string
}

// Proc is a running `kioskd run --log-format json` whose log is followed.
type Proc struct {
	Cmd     *exec.Cmd
	Started time.Time // just before exec

	mu      sync.Mutex
	recs    []Record
	other   []string // lines that are not JSON
	changed chan struct{}
	exited  chan struct{}
	waitErr error
}

// StartKioskd runs bin with the lab's config. env is added to the
// environment.
func StartKioskd(bin string, lab *Lab, env ...string) (*Proc, error) {
	cmd := exec.Command(bin, "run", "--config", lab.Config, "--log-format", "json")
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = io.Discard
	p := &Proc{Cmd: cmd, changed: make(chan struct{}), exited: make(chan struct{})}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go p.follow(stderr)
	return p, nil
}

func (p *Proc) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		seen := time.Now()
		line := sc.Text()
		var m map[string]any
		p.mu.Lock()
		if json.Unmarshal([]byte(line), &m) == nil {
			rec := Record{Seen: seen, Raw: line}
			rec.Msg, _ = m["msg"].(string)
			rec.State, _ = m["connection_state"].(string)
			rec.ID, _ = m["session_id"].(string)
			rec.Err, _ = m["error_name"].(string)
			rec.Reason, _ = m["disconnect_reason"].(string)
			if ts, ok := m["time"].(string); ok {
				rec.Time, _ = time.Parse(time.RFC3339Nano, ts)
			}
			p.recs = append(p.recs, rec)
		} else if len(p.other) < 200 {
			p.other = append(p.other, line)
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	err := p.Cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	p.mu.Unlock()
	close(p.exited)
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Records returns the records so far and a channel closed at the next one.
func (p *Proc) Records() ([]Record, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recs[:len(p.recs):len(p.recs)], p.changed
}

// Len is the number of records so far.
func (p *Proc) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recs)
}

// ErrExited: kioskd exited while the bench waited for it.
var ErrExited = errors.New("bench: kioskd exited")

// WaitFor waits for the first record at index >= from that matches, and
// returns it with its index.
func (p *Proc) WaitFor(ctx context.Context, from int, match func(Record) bool) (Record, int, error) {
	for {
		recs, changed := p.Records()
		for i := from; i < len(recs); i++ {
			if match(recs[i]) {
				return recs[i], i, nil
			}
		}
		from = max(from, len(recs))
		select {
		case <-changed:
		case <-p.exited:
			recs, _ := p.Records()
			for i := from; i < len(recs); i++ {
				if match(recs[i]) {
					return recs[i], i, nil
				}
			}
			return Record{}, 0, fmt.Errorf("%w (%v); last lines:\n%s", ErrExited, p.ExitErr(), p.Tail(15))
		case <-ctx.Done():
			return Record{}, 0, fmt.Errorf("%w; last lines:\n%s", ctx.Err(), p.Tail(15))
		}
	}
}

// IsConnected matches the Connected state line.
func IsConnected(r Record) bool { return r.State == "Connected" }

// Tail is the last n lines of kioskd's log, for error messages.
func (p *Proc) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.recs[max(0, len(p.recs)-n):] {
		out = append(out, r.Raw)
	}
	out = append(out, p.other[max(0, len(p.other)-5):]...)
	return strings.Join(out, "\n")
}

// ExitErr is how the process ended (nil while running or after exit 0).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// Stop sends SIGTERM and waits up to grace for the exit, then kills.
func (p *Proc) Stop(grace time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.ExitErr()
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("bench: kioskd did not exit within %s of SIGTERM", grace)
	}
}

// Metrics scrapes a Prometheus text endpoint and returns the unlabelled
// samples (go_goroutines, process_open_fds, …). It does not keep the
// connection open, so the scrape leaves no descriptor behind in kioskd.
func Metrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: metrics: HTTP %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' || strings.ContainsRune(l, '{') {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, sc.Err()
}
