package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/status"
)

// cmdLEDs is the staff tools: `kioskd leds test` (the lamp test) and
// `kioskd leds identify` (find this kiosk in a row). While the daemon runs
// it owns the LED lines, so both ask it over the status socket; when no
// daemon answers they drive the LEDs of --config directly.
func cmdLEDs(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return usageError(stderr, "kioskd leds", "want a subcommand: test or identify", "kioskd leds")
	}
	switch args[0] {
	case "test":
		return ledShow("test", args[1:], stdout, stderr)
	case "identify":
		return ledShow("identify", args[1:], stdout, stderr)
	case "off":
		return cmdLEDsOff(args[1:], stdout, stderr)
	}
	if isHelpFlag(args[0]) {
		fs := newFlags("leds", stdout)
		fs.Usage()
		fmt.Fprint(stdout, "\nSubcommands:\n  test       the lamp test\n  identify   flash every LED together for a while (--for, default 30s)\n  off        turn the LEDs off (the same as kioskd leds-off)\n\nRun 'kioskd leds test --help' or 'kioskd leds identify --help' for their flags.\n")
		return exitOK
	}
	return usageError(stderr, "kioskd leds", fmt.Sprintf("unknown subcommand %q: want test or identify", args[0]), "kioskd leds")
}

func ledShow(sub string, args []string, stdout, stderr io.Writer) int {
	name := "leds " + sub
	fs := newFlags(name, stderr)
	var dur *time.Duration
	if sub == "identify" {
		dur = fs.Duration("for", leds.DefaultIdentify, fmt.Sprintf("how long (at most %v)", leds.MaxIdentify))
	}
	socket := fs.String("socket", "", "the daemon's status socket (default: status.socket of --config)")
	cfgPath := fs.String("config", config.DefaultPath, "config file: the status socket, and the LEDs to drive when no daemon runs")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cmd := status.LampTestCommand
	if dur != nil {
		if *dur <= 0 || *dur > leds.MaxIdentify {
			return usageError(stderr, fs.Name(), fmt.Sprintf("--for %v: want more than 0 and at most %v", *dur, leds.MaxIdentify), fs.Name())
		}
		cmd = status.IdentifyCommand(*dur)
	}
	ctx, stop := signalContext()
	defer stop()
	stdout = &lockedWriter{w: stdout} // the console backend prints from the controller's goroutine
	progress := func(line string) { fmt.Fprintln(stdout, line) }

	path := *socket
	if path == "" {
		path = config.Default().Status.Socket
		if cfg, err := config.Load(*cfgPath); err == nil {
			path = cfg.Status.Socket
		}
	}
	err := status.LEDCommand(ctx, path, cmd, progress)
	switch {
	case err == nil:
		fmt.Fprintln(stdout, "done: the LEDs show the kiosk's state again")
		return exitOK
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "kioskd "+name+": interrupted; the LEDs show the kiosk's state again")
		return exitFail
	case !errors.Is(err, status.ErrNotRunning):
		fmt.Fprintf(stderr, "kioskd %s: %v\n", name, err)
		return exitFail
	}

	// No daemon: the lines are free, drive them here.
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "kioskd %s: kioskd is not running (%s) and its config cannot be read: %v\n", name, path, err)
		return exitConfig
	}
	if cfg.LEDs.Backend == config.BackendNone {
		fmt.Fprintf(stderr, "kioskd %s: kioskd is not running, and %s has no LEDs (leds.backend: none)\n", name, *cfgPath)
		return exitFail
	}
	fmt.Fprintf(stdout, "kioskd is not running: driving the LEDs of %s (%s) directly\n", *cfgPath, cfg.LEDs.Backend)
	if err := playDirect(ctx, cfg.LEDs, dur, stdout, progress); err != nil {
		fmt.Fprintf(stderr, "kioskd %s: %v\n", name, err)
		return exitFail
	}
	fmt.Fprintln(stdout, "done: the LEDs are off (kioskd is not running)")
	return exitOK
}

// playDirect plays the lamp test (dur nil) or an identify of *dur on the
// LEDs of cfg, then turns them off.
func playDirect(ctx context.Context, cfg config.LEDs, dur *time.Duration, stdout io.Writer, progress func(string)) error {
	backend, err := leds.Open(cfg, stdout)
	if err != nil {
		return err
	}
	ctl, err := leds.New(cfg, backend, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		backend.Close()
		return err
	}
	steps := leds.LampTestOf(cfg)
	if dur != nil {
		steps = []leds.Step{leds.IdentifyStepOf(cfg, *dur)}
	}
	// The show starts before Run, so Run's first look is its first step;
	// the kiosk is stopped, so the LEDs are off when it ends.
	sh, err := ctl.Start(steps)
	if err != nil {
		ctl.Close()
		return err
	}
	events := make(chan contract.Event, 1)
	events <- contract.Event{Kind: contract.EventStopped}
	rctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- ctl.Run(rctx, events) }()
	err = ctl.Follow(ctx, sh, progress)
	cerr := ctl.Close()
	cancel()
	<-ran
	if err != nil {
		return err
	}
	return cerr
}
