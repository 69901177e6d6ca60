package cli

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/logging"
	"github.com/kioskd/kioskd/status"
)

// cmdDemo is the embedded default: everything in one process, nothing to
// configure. It shows each step, the LEDs and the session id live, and
// after the first Connected it has the server drop the control channel
// once, so a newcomer sees kioskd resume the same session. With --dialect
// livekit it runs livekit-server and dpsim as processes instead
// (demolivekit.go).
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr)
	dur := fs.Duration("for", 0, "end the demo after this long (0: run until Ctrl-C)")
	camera := fs.String("camera", "test", "camera: test (synthetic pattern), auto, none, or a device (see kioskd devices)")
	mic := fs.String("microphone", "test", "microphone: test (440 Hz tone), default, none, or an ALSA PCM")
	speaker := fs.String("speaker", "none", "speaker for the Digital Person's voice: none, default, or an ALSA PCM")
	verbose := fs.Bool("verbose", false, "also print kioskd's log lines")
	dia := fs.String("dialect", config.DialectKioskd, "kioskd (the reference server in this process) or livekit (a livekit-server on loopback and dpsim's LiveKit mode, as processes)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	o := demoOptions{For: *dur, Camera: *camera, Microphone: *mic, Speaker: *speaker, Verbose: *verbose}
	switch *dia {
	case config.DialectKioskd:
		return runDemo(o, stdout, stderr)
	case config.DialectLiveKit:
		return runLiveKitDemo(o, stdout, stderr)
	}
	fmt.Fprintf(stderr, "kioskd demo: --dialect %q: want %s or %s\nrun 'kioskd demo --help' for usage\n", *dia, config.DialectKioskd, config.DialectLiveKit)
	return exitUsage
}

type demoOptions struct {
	For                         time.Duration
	Camera, Microphone, Speaker string
	Verbose                     bool
	// Scenario overrides the server's pacing (tests).
	Scenario *dpsim.Scenario
}

// demoRun is what every demo shares: its context (Ctrl-C, --for), its
// stdout (locked: the LED console and the progress lines write from their
// own goroutines) and its text logger on stderr (warnings, or everything
// with --verbose).
type demoRun struct {
	ctx     context.Context
	stop    func()
	stdout  io.Writer
	log     *slog.Logger
	tracker *logging.SessionTracker
}

func startDemoRun(o demoOptions, stdout, stderr io.Writer) (*demoRun, error) {
	ctx, stopSignals := signalContext()
	stop := stopSignals
	if o.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.For)
		stop = func() { cancel(); stopSignals() }
	}
	level := slog.LevelWarn
	if o.Verbose {
		level = slog.LevelInfo
	}
	log, tracker, err := logging.New(logging.FormatText, stderr, logging.Options{Level: level})
	if err != nil {
		stop()
		return nil, err
	}
	return &demoRun{ctx: ctx, stop: stop, stdout: &lockedWriter{w: stdout}, log: log, tracker: tracker}, nil
}

func runDemo(o demoOptions, stdout, stderr io.Writer) int {
	run, err := startDemoRun(o, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer run.stop()
	ctx, stdout, log, tracker := run.ctx, run.stdout, run.log, run.tracker

	// The reference Digital Person server, in this process, on loopback.
	var tok [12]byte
	_, _ = rand.Read(tok[:])
	token := "demo-" + hex.EncodeToString(tok[:])
	sc := dpsim.DefaultScenario()
	// Slow enough for a person to watch each step go by.
	sc.QueuePosition, sc.QueueDelay = 2, 600*time.Millisecond
	sc.AssetsDelay, sc.ConnectingDelay = 700*time.Millisecond, 700*time.Millisecond
	if o.Scenario != nil {
		sc = *o.Scenario
	}
	dp, err := dpsim.New(dpsim.Config{Token: token, ICELoopbackOnly: true, Scenario: sc}, log.With("component", "dpsim"))
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer dp.Close()
	ctl, err := dp.Listen("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	adm, err := dp.ListenAdmin("127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}

	dir, err := os.MkdirTemp("", "kioskd-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer os.RemoveAll(dir)
	cfg := demoConfig(o, dir)
	cfg.Server.URL = "ws://" + ctl.String() + dpsim.ControlPath
	if err := os.WriteFile(cfg.Server.TokenFile, []byte(token), 0o600); err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}

	fmt.Fprintf(stdout, "kioskd demo: a Digital Person server runs in this process at %s (admin API http://%s/sessions)\n", cfg.Server.URL, adm)
	fmt.Fprintf(stdout, "kioskd demo: camera %s, microphone %s, speaker %s; Ctrl-C ends it\n\n", o.Camera, o.Microphone, o.Speaker)

	ui := &demoUI{out: stdout,
		stageMsg:  "the server now drops the control channel without a word (as a network blip would)",
		stageName: "the drop",
		stage:     func() error { dp.Drop(); return nil },
		received: func(id string) (demoReceived, bool) {
			for _, s := range dp.Sessions() {
				if s.ID == id {
					return demoReceived{Frames: s.Video.Frames, Width: s.Video.Width, Height: s.Video.Height,
						Packets: s.Audio.Packets, DominantHz: s.Audio.DominantHz}, true
				}
			}
			return demoReceived{}, false
		},
	}
	return runDemoDaemon(ctx, cfg, log, tracker, ui, stdout, stderr)
}

// demoConfig is the kiosk's configuration of every demo, its files in dir:
// the devices of o, console LEDs, a quick reconnect.
func demoConfig(o demoOptions, dir string) *config.Config {
	cfg := config.Default()
	cfg.Server.TokenFile = filepath.Join(dir, "token")
	cfg.Session.StateDir = filepath.Join(dir, "state")
	cfg.Session.Reconnect.InitialDelay = 500 * time.Millisecond
	cfg.Session.Reconnect.MaxDelay = 5 * time.Second
	cfg.Media.Camera, cfg.Media.Microphone, cfg.Media.Speaker = o.Camera, o.Microphone, o.Speaker
	cfg.Media.CameraRequired = o.Camera != "none"
	cfg.Media.MicrophoneRequired = o.Microphone != "none"
	cfg.Status.Socket = filepath.Join(dir, "status.sock")
	// Console LEDs, printed under the progress lines.
	cfg.LEDs.Backend = config.BackendConsole
	return cfg
}

// runDemoDaemon runs kioskd with cfg and the demo's UI until ctx ends, and
// gives the demo's exit code: a demo that never connects failed.
func runDemoDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger, tracker *logging.SessionTracker, ui *demoUI, stdout, stderr io.Writer) int {
	d, err := daemon.New(cfg, daemon.Options{
		Log:         log,
		OnSessionID: tracker.Set, // "" clears it
		Console:     &prefixWriter{w: stdout, prefix: "          "},
		Observers:   []func(<-chan contract.Event){ui.follow},
	})
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	ui.start = time.Now()
	err = d.Run(ctx)
	ui.wait()
	connected := ui.summary()
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	if !connected {
		// A demo that never connects failed, whatever ended it: say why
		// (the last error) and give a non-zero exit to scripts.
		fmt.Fprintf(stderr, "kioskd demo: never reached Connected in %s; %s\n", time.Since(ui.start).Round(time.Second), ui.lastError())
		return exitFail
	}
	return exitOK
}

// demoReceived is what the demo's DP received from the kiosk.
type demoReceived struct {
	Frames        int64
	Width, Height int
	Packets       int64
	DominantHz    float64
}

// demoUI prints one line per step with a progress bar, and stages an
// event after the first Connected (a control-channel drop on kioskd.dp.v1,
// the DP leaving on LiveKit).
type demoUI struct {
	out       io.Writer
	stageMsg  string       // what the staged event is, for the visitor
	stageName string       // and in the summary ("the drop")
	stage     func() error // nil: nothing staged
	// received says what the DP got from the kiosk in session id.
	received func(id string) (demoReceived, bool)
	start    time.Time

	mu        sync.Mutex
	firstAt   time.Duration
	dropAt    time.Time
	resumedIn time.Duration
	firstID   string
	resumedID string
	lastErr   string // the last connect or media failure, for a demo that never connects
	done      sync.WaitGroup
}

// lastError says what kept the demo from connecting.
func (u *demoUI) lastError() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.lastErr == "" {
		return "no attempt failed before the end (try a longer --for)"
	}
	return "the last attempt failed with " + u.lastErr + " (the flags --camera, --microphone, --speaker choose the devices; test is synthetic)"
}

func (u *demoUI) follow(events <-chan contract.Event) {
	u.done.Add(1)
	defer u.done.Done()
	dropped := false
	for e := range events {
		switch e.Kind {
		case contract.EventState:
			line := status.FormatLine(status.Status{
				State: e.State.String(), CurrentStep: e.State.Step(), TotalSteps: contract.TotalSteps,
				PercentageLoaded: e.State.Percentage(), SessionID: e.SessionID,
			})
			fmt.Fprintf(u.out, "%7.2fs  %s\n", time.Since(u.start).Seconds(), line)
			if e.State != contract.Connected {
				continue
			}
			u.mu.Lock()
			if u.firstID == "" {
				u.firstID, u.firstAt = e.SessionID, time.Since(u.start)
			} else if !u.dropAt.IsZero() && u.resumedID == "" {
				u.resumedID, u.resumedIn = e.SessionID, time.Since(u.dropAt)
				same := "started a NEW session"
				if e.Resumed && e.SessionID == u.firstID {
					same = "resumed the SAME session"
				}
				fmt.Fprintf(u.out, "          → kioskd %s %s in %s\n\n", same, e.SessionID, u.resumedIn.Round(time.Millisecond))
			}
			u.mu.Unlock()
			if !dropped && u.stage != nil {
				dropped = true
				go u.dropSoon()
			}
		case contract.EventQueue:
			fmt.Fprintf(u.out, "          in the server's queue: position %d\n", e.QueuePosition)
		case contract.EventConnectFailed, contract.EventMediaFailed:
			fmt.Fprintf(u.out, "          ✗ %s: %v\n", e.ErrorName, e.Cause)
			u.mu.Lock()
			u.lastErr = fmt.Sprintf("%s: %v", e.ErrorName, e.Cause)
			u.mu.Unlock()
		case contract.EventRetry:
			fmt.Fprintf(u.out, "          retrying in %s\n", e.Delay.Round(time.Millisecond))
		case contract.EventDisconnected:
			fmt.Fprintf(u.out, "          disconnected: %s\n", e.Reason)
		}
	}
}

// dropSoon lets the visitor see Connected, then stages the event (on
// kioskd.dp.v1 a cut of the control socket as a network blip would do it,
// no close message: kioskd must resume at once).
func (u *demoUI) dropSoon() {
	time.Sleep(1500 * time.Millisecond)
	u.mu.Lock()
	u.dropAt = time.Now()
	u.mu.Unlock()
	fmt.Fprintf(u.out, "\n          ⚡ %s\n", u.stageMsg)
	if err := u.stage(); err != nil {
		fmt.Fprintf(u.out, "          (that failed: %v)\n", err)
	}
}

func (u *demoUI) wait() { u.done.Wait() }

// summary prints what the demo saw and reports whether it reached Connected.
func (u *demoUI) summary() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	fmt.Fprintln(u.out)
	if u.firstID == "" {
		return false
	}
	fmt.Fprintf(u.out, "kioskd demo: Connected %s after start, session %s\n", u.firstAt.Round(time.Millisecond), u.firstID)
	if u.resumedID != "" {
		fmt.Fprintf(u.out, "kioskd demo: after %s, Connected again in %s with session %s\n", u.stageName, u.resumedIn.Round(time.Millisecond), u.resumedID)
	}
	if r, ok := u.received(u.firstID); ok {
		fmt.Fprintf(u.out, "kioskd demo: the server received %d video frames (%dx%d) and %d audio packets (dominant %.0f Hz) from the kiosk\n",
			r.Frames, r.Width, r.Height, r.Packets, r.DominantHz)
	}
	return true
}

// prefixWriter indents what the LED console prints under the progress lines.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	s := strings.TrimRight(string(b), "\n")
	for _, line := range strings.Split(s, "\n") {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, line)
	}
	return len(b), nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
