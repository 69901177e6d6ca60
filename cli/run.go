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
// the file and its drop-ins: a configuration that cannot be used is logged
// and the running one kept; an unchanged one changes nothing; one whose
// only change is the leds section is applied to the running daemon (the
// session goes on); any other change stops this generation (session
// closed, devices released) and starts the next with it, the token read
// again. SIGTERM or SIGINT stops.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("config", config.DefaultPath, "config file (its drop-ins: FILE.d/*.yaml)")
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
	cur, err := loadForRun(*path)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd:", err)
		return exitConfig
	}
	secrets := slices.Clone(cur.keys)
	warned := map[string]bool{}
	for {
		// Every token and key this process has used stays redacted.
		log, tracker, err := logging.New(*format, stderr, logging.Options{Secrets: secrets})
		if err != nil {
			fmt.Fprintln(stderr, "kioskd:", err)
			return exitUsage
		}
		warnToken(log, cur.tok, warned)
		d, err := daemon.New(cur.cfg, daemon.Options{
			Log:         log,
			OnSessionID: tracker.Set, // "" clears it
			Console:     stderr,      // leds.backend: console
			TokenSource: cur.tok.Source,
		})
		if errors.Is(err, session.ErrLocked) {
			log.Error("cannot start: another kioskd is running", "error", err)
			return exitFail
		}
		if err != nil {
			log.Error("cannot start", "error", err)
			return exitConfig
		}
		next := make(chan loaded, 1)
		watchCtx, stopWatch := context.WithCancel(ctx)
		go func() {
			r := reloader{path: *path, running: cur, log: log, hup: hup, applyLEDs: d.ApplyLEDs}
			if n, ok := r.await(watchCtx); ok {
				warnToken(log, n.tok, warned)
				next <- n
				d.Reload()
			}
		}()
		err = d.Run(ctx)
		stopWatch()
		select {
		case n := <-next:
			if ctx.Err() == nil {
				cur = n
				secrets = append(secrets, n.keys...)
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

// loaded is a configuration as run uses it: the config, its token and
// every secret of it (the token first, then the ICE servers'
// credentials), each redacted from the log.
type loaded struct {
	cfg  *config.Config
	tok  config.TokenInfo
	keys []string
}

// warnToken logs the token's warning (a token file others may read) once
// per process, whatever the number of reloads.
func warnToken(log *slog.Logger, tok config.TokenInfo, warned map[string]bool) {
	if tok.Warning != "" && !warned[tok.Warning] {
		warned[tok.Warning] = true
		log.Warn(tok.Warning)
	}
}

// loadForRun reads and checks the config file, its drop-ins and its
// secrets as run needs them: the token first, then the ICE servers'
// credentials (a change in any is a changed configuration for a reload).
func loadForRun(path string) (loaded, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return loaded{}, err
	}
	if err := cfg.ValidateForRun(); err != nil {
		return loaded{}, err
	}
	tok, err := cfg.LoadToken()
	if err != nil {
		return loaded{}, err
	}
	if _, err := cfg.TLSConfig(); err != nil {
		return loaded{}, err
	}
	if err := checkMetricsWebConfig(cfg); err != nil {
		return loaded{}, err
	}
	ice, err := cfg.ResolvedICEServers()
	if err != nil {
		return loaded{}, err
	}
	keys := []string{tok.Token}
	for _, s := range ice {
		if s.Credential != "" {
			keys = append(keys, s.Credential)
		}
	}
	return loaded{cfg: cfg, tok: tok, keys: keys}, nil
}

// reloader waits for SIGHUPs on behalf of one generation.
type reloader struct {
	path      string
	running   loaded
	log       *slog.Logger
	hup       <-chan os.Signal
	applyLEDs func(config.LEDs) error // the running daemon's ApplyLEDs
}

// await waits for a SIGHUP that brings a usable configuration that needs
// a new generation, and returns it; false when ctx ends first. A change
// of the leds section alone is applied to the running generation here and
// the wait goes on. systemd hears RELOADING=1 and then READY=1 around
// each reload, whatever its outcome; a new generation's READY=1 comes
// from its daemon, once it has started.
func (r *reloader) await(ctx context.Context) (loaded, bool) {
	for {
		select {
		case <-ctx.Done():
			return loaded{}, false
		case <-r.hup:
		}
		systemd.Reloading()
		n, err := loadForRun(r.path)
		switch {
		case err != nil:
			r.log.Error("reload failed: keeping the running configuration", "config", r.path, "error", err)
		case n.cfg.Same(r.running.cfg) && slices.Equal(n.keys, r.running.keys):
			r.log.Info("reload: the configuration is unchanged; nothing to do", "config", r.path)
		case onlyLEDsChanged(r.running.cfg, n.cfg) && slices.Equal(n.keys, r.running.keys):
			if err := r.applyLEDs(n.cfg.LEDs); err != nil {
				r.log.Info("reload: the leds section changed; restarting the session with it", "config", r.path, "error", err)
				return n, true
			}
			r.log.Info("reload: the leds section changed; applied, the session goes on", "config", r.path,
				"leds", n.cfg.LEDs.Backend, "profile", n.cfg.LEDs.Profile)
			r.running = n
		default:
			r.log.Info("reload: the configuration changed; restarting the session with it", "config", r.path)
			return n, true
		}
		systemd.Ready()
	}
}

// onlyLEDsChanged reports whether next differs from running in the leds
// section alone.
func onlyLEDsChanged(running, next *config.Config) bool {
	c := *next
	c.LEDs = running.LEDs
	return c.Same(running)
}
