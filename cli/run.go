package cli

import (
	"fmt"
	"io"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/logging"
)

// cmdRun is the daemon: the config, the logger, then package daemon.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("config", config.DefaultPath, "config file")
	format := fs.String("log-format", logging.FormatAuto, "auto|journal|json|text (auto: journald under systemd, else text)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	// Until the config is read, errors go to stderr as plain text.
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	token, err := cfg.Token()
	if err != nil {
		fmt.Fprintln(stderr, "kioskd:", err)
		return exitConfig
	}
	log, tracker, err := logging.New(*format, stderr, logging.Options{Secrets: []string{token}})
	if err != nil {
		fmt.Fprintln(stderr, "kioskd:", err)
		return exitUsage
	}

	ctx, stop := signalContext()
	defer stop()
	d, err := daemon.New(cfg, daemon.Options{
		Log:         log,
		OnSessionID: tracker.Set, // "" clears it
		Console:     stderr,      // leds.backend: console
	})
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitConfig
	}
	if err := d.Run(ctx); err != nil {
		log.Error("stopped with an error", "error", err)
		return exitFail
	}
	log.Info("kioskd stopped")
	return exitOK
}
