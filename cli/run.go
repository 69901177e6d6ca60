package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/logging"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/systemd"
)

// cmdRun is the daemon: the config, the logger, then package daemon, one
// generation per configuration. SIGHUP (systemctl reload kioskd) reloads
// the file: a file that cannot be used is logged and the running
// configuration kept; an unchanged one changes nothing; a changed one
// stops this generation (session closed, devices released) and starts the
// next with it, the token read again. SIGTERM or SIGINT stops.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("config", config.DefaultPath, "config file")
	format := fs.String("log-format", logging.FormatAuto, "auto|journal|json|text (auto: journald under systemd, else text)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	// From here on a SIGHUP is a reload, never the end of the process
	// (Go's default for SIGHUP is to exit, leaving the LEDs as they were).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signalContext()
	defer stop()

	// Until the config is read, errors go to stderr as plain text.
	cfg, keys, err := loadForRun(*path)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd:", err)
		return exitConfig
	}
	secrets := slices.Clone(keys)
	for {
		// Every token this process has used stays redacted.
		log, tracker, err := logging.New(*format, stderr, logging.Options{Secrets: secrets})
		if err != nil {
			fmt.Fprintln(stderr, "kioskd:", err)
			return exitUsage
		}
		d, err := daemon.New(cfg, daemon.Options{
			Log:         log,
			OnSessionID: tracker.Set, // "" clears it
			Console:     stderr,      // leds.backend: console
		})
		if errors.Is(err, session.ErrLocked) {
			log.Error("cannot start: another kioskd is running", "error", err)
			return exitFail
		}
		if err != nil {
			log.Error("cannot start", "error", err)
			return exitConfig
		}
		next := make(chan *config.Config, 1)
		watchCtx, stopWatch := context.WithCancel(ctx)
		go func() {
			if c, t := awaitReload(watchCtx, hup, *path, cfg, keys, log); c != nil {
				keys = t
				next <- c
				d.Reload()
			}
		}()
		err = d.Run(ctx)
		stopWatch()
		select {
		case c := <-next:
			if ctx.Err() == nil {
				cfg = c
				secrets = append(secrets, keys...)
				log.Info("configuration reloaded: starting again with it", "config", *path)
				continue
			}
		default:
		}
		if err != nil {
			log.Error("stopped with an error", "error", err)
			return exitFail
		}
		log.Info("kioskd stopped")
		return exitOK
	}
}

// loadForRun reads and checks the config file and its secrets as run
// needs them: the token first, then the ICE servers' credentials (every
// one of them redacted from the log; a change in any is a changed
// configuration for a reload).
func loadForRun(path string) (*config.Config, []string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.ValidateForRun(); err != nil {
		return nil, nil, err
	}
	token, err := cfg.Token()
	if err != nil {
		return nil, nil, err
	}
	if _, err := cfg.TLSConfig(); err != nil {
		return nil, nil, err
	}
	if err := checkMetricsWebConfig(cfg); err != nil {
		return nil, nil, err
	}
	ice, err := cfg.ResolvedICEServers()
	if err != nil {
		return nil, nil, err
	}
	keys := []string{token}
	for _, s := range ice {
		if s.Credential != "" {
			keys = append(keys, s.Credential)
		}
	}
	return cfg, keys, nil
}

// awaitReload waits for a SIGHUP that brings a usable, changed
// configuration and returns it with its token; nil when ctx ends first.
// systemd hears RELOADING=1 and then READY=1 around each reload, whatever
// its outcome; a changed configuration's READY=1 comes from the next
// generation's daemon, once it has started.
func awaitReload(ctx context.Context, hup <-chan os.Signal, path string, running *config.Config, keys []string, log *slog.Logger) (*config.Config, []string) {
	for {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-hup:
		}
		systemd.Reloading()
		cfg, t, err := loadForRun(path)
		switch {
		case err != nil:
			log.Error("reload failed: keeping the running configuration", "config", path, "error", err)
		case cfg.Same(running) && slices.Equal(t, keys):
			log.Info("reload: the configuration is unchanged; nothing to do", "config", path)
		default:
			log.Info("reload: the configuration changed; restarting the session with it", "config", path)
			return cfg, t
		}
		systemd.Ready()
	}
}
