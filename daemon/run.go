package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/version"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/status"
	"github.com/kioskd/kioskd/systemd"
)

// Run runs until ctx is cancelled (SIGTERM), then closes the session with
// reason normal and releases the devices, within ShutdownGrace. It wires
// what reports the session's state (see the package comment), sends
// READY=1 once that is done and STOPPING=1 when ctx ends, and stops and
// waits for everything it started before it returns. Call it once.
func (d *Daemon) Run(ctx context.Context) error {
	// All LEDs off and the devices released on every way out, a panic
	// included. Deferred first, so it runs last.
	defer func() { _ = d.Close() }()

	// What reports the session's state runs on its own context, derived
	// from ctx but not cancelled with it: it must still show the shutdown
	// (Disconnected on the LEDs, STATUS=, the watchdog while the session
	// closes). It is cancelled once the supervisor has stopped.
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g := &group{ctx: rctx, stop: stop, log: d.opts.Log.Warn}
	defer g.shutdown()

	d.wire(g)
	// Who and what is starting, so a fleet's logs say which kiosk runs
	// which build: the kiosk id is the hashed machine id (never the raw one).
	machine := d.id.KioskID
	if d.idErr != nil {
		machine = "unknown (" + d.idErr.Error() + ")"
	}
	d.opts.Log.Info("kioskd started", "version", version.Version, "machine_id_hash", machine, "hostname", d.id.Hostname,
		"config_server", config.PublicURL(d.cfg.Server.URL), "camera", d.cfg.Media.Camera,
		"microphone", d.cfg.Media.Microphone, "speaker", d.cfg.Media.Speaker, "leds", d.cfg.LEDs.Backend)
	// Where the token came from, in the message: an attribute named for a
	// token would be redacted whole (logging.SecretKey).
	if src := d.opts.TokenSource; src != "" {
		d.opts.Log.Info("the server token comes from " + src)
	}
	for _, w := range d.cfg.Warnings() {
		d.opts.Log.Warn(w)
	}
	// READY=1 once config is loaded and devices probed, not waiting for
	// Connected (docs/BEHAVIOUR.md section 10).
	systemd.Ready()
	d.watchdog(g)

	// A device change wakes a supervisor parked after notSupported, and
	// makes an optional device that was missing and has appeared join the
	// session at once (session.Supervisor.hotplug).
	dirs, every := d.opts.DeviceDirs, d.opts.DeviceWatchInterval
	if dirs == nil {
		dirs = DeviceDirs
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	g.spawn(func(ctx context.Context) { watchDevices(ctx, d.opts.Clock, every, dirs, d.deviceChanges) })
	d.watchNetwork(g)

	// The supervisor runs on ctx, or until Reload. If it overruns
	// ShutdownGrace it is left behind: exiting in time matters more
	// (systemd would kill us).
	sctx, stopSup := context.WithCancel(ctx)
	defer stopSup()
	runErr := make(chan error, 1)
	go func() { runErr <- d.sup.Run(sctx) }()
	var err error
	select {
	case err = <-runErr:
		if ctx.Err() != nil {
			systemd.Stopping()
		}
	case <-d.reload:
		stopSup()
		err = waitSupervisor(runErr)
	case <-ctx.Done():
		systemd.Stopping()
		err = waitSupervisor(runErr)
	}
	// No LED switch from here on (ApplyLEDs): the followers are draining.
	d.ledsMu.Lock()
	d.group = nil
	d.ledsMu.Unlock()
	// The supervisor closed the bus on its way out: the observers show its
	// last events and end.
	g.drain(drainGrace)
	return err
}

// waitSupervisor waits ShutdownGrace at most for the supervisor to stop.
func waitSupervisor(runErr <-chan error) error {
	t := time.NewTimer(ShutdownGrace)
	defer t.Stop()
	select {
	case err := <-runErr:
		return err
	case <-t.C:
		return errors.New("shutdown took longer than " + ShutdownGrace.String())
	}
}

// wire subscribes the LEDs, systemd's STATUS=, the status socket, metrics
// and the caller's observers to the supervisor's events (the session id
// reaches the log tracker synchronously instead: session.Options.
// OnSessionID). What fails is logged; the kiosk goes on.
func (d *Daemon) wire(g *group) {
	sup, log := d.sup, d.opts.Log
	d.ledsMu.Lock()
	d.group = g
	d.followLEDs(g, d.leds, false)
	d.ledsMu.Unlock()
	for _, o := range d.opts.Observers {
		g.follow(sup, func(_ context.Context, events <-chan contract.Event) { o(events) })
	}
	g.follow(sup, func(ctx context.Context, events <-chan contract.Event) {
		systemd.ReportStatus(ctx, events, sup.Snapshot)
	})

	// The local status socket for `kioskd status`, and `kioskd leds
	// identify` and `leds test` while the daemon owns the LEDs.
	// A kiosk without LEDs (leds.backend: none) answers the LED commands
	// with status.ErrNoLEDs rather than play a show nobody can see.
	var ledCmds status.LEDs
	if d.cfg.LEDs.Backend != config.BackendNone || d.opts.LEDs != nil {
		ledCmds = currentLEDs{d} // the controller of the day: ApplyLEDs swaps it
	}
	events, cancel := sup.Subscribe()
	network := func() *status.Network { return currentNetwork(sup.NetworkStats, time.Now()) }
	srv, err := status.NewServer(d.cfg.Status, status.ServerOptions{Snapshot: sup.Snapshot, Events: events, Clock: d.opts.Clock, Logger: log, LEDs: ledCmds, Network: network})
	if err != nil {
		cancel()
		log.Error("status socket unavailable", "path", d.cfg.Status.Socket, "error", err)
	} else {
		g.onStop(func() { _ = srv.Close(); cancel() })
	}

	if addr := d.cfg.Status.MetricsListen; addr != "" {
		reg := status.NewRegistry()
		if m, err := status.NewMetrics(reg); err != nil {
			log.Error("metrics unavailable", "error", err)
		} else {
			g.follow(sup, m.Follow)
			d.watchHealth(m.Health)
			g.spawn(func(ctx context.Context) { feedMediaMetrics(ctx, metricsInterval, d.sink, sup.SendStats, m.Media) })
			if nm, err := status.NewNetworkMetrics(reg); err != nil {
				log.Error("network metrics unavailable", "error", err)
			} else {
				g.spawn(func(ctx context.Context) { feedNetworkMetrics(ctx, metricsInterval, sup.NetworkStats, nm) })
			}
			web := d.cfg.Status.MetricsWebConfig
			g.spawn(func(ctx context.Context) {
				if err := status.ServeMetrics(ctx, addr, web, log.With("component", "metrics"), reg); err != nil {
					log.Error("metrics endpoint stopped", "listen", addr, "error", err)
				}
			})
		}
	}
}

// watchdog starts the systemd watchdog if WATCHDOG_USEC asks for it:
// WATCHDOG=1 only while the supervisor makes progress (docs/BEHAVIOUR.md
// section 5).
func (d *Daemon) watchdog(g *group) {
	iv, ok := systemd.WatchdogInterval()
	if !ok {
		return
	}
	wd, err := systemd.NewWatchdog(systemd.WatchdogConfig{Interval: iv, LastProgress: d.sup.LastProgress, Clock: d.opts.Clock, Logger: d.opts.Log})
	if err != nil {
		d.opts.Log.Error("systemd watchdog disabled", "error", err)
		return
	}
	g.spawn(func(ctx context.Context) { _ = wd.Run(ctx) })
}

// group is the goroutines of one Run: they run on one context, and
// shutdown cancels it, ends their subscriptions and waits for them.
type group struct {
	ctx  context.Context
	stop context.CancelFunc
	log  func(msg string, args ...any)

	wg        sync.WaitGroup
	followers sync.WaitGroup // those that follow the bus
	mu        sync.Mutex
	stops     []func() // subscription cancels and Close calls, in order
}

// spawn runs f on the group's context.
func (g *group) spawn(f func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
}

// follow gives f its own subscription to sup's events, ended at shutdown.
func (g *group) follow(sup *session.Supervisor, f func(ctx context.Context, events <-chan contract.Event)) {
	events, cancel := sup.Subscribe()
	g.onStop(cancel)
	g.followers.Add(1)
	g.spawn(func(ctx context.Context) {
		defer g.followers.Done()
		f(ctx, events)
	})
}

// onStop registers f to run at shutdown, after the context is cancelled.
func (g *group) onStop(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stops = append(g.stops, f)
}

// drain waits up to grace for every follower to end of itself (the bus
// closed and their queues delivered).
func (g *group) drain(grace time.Duration) {
	if !waitFor(&g.followers, grace) {
		g.log("session observers did not finish in time")
	}
}

// shutdown cancels the context, ends every subscription, closes what was
// registered and waits for every goroutine (at most stopGrace).
func (g *group) shutdown() {
	g.stop()
	g.mu.Lock()
	stops := g.stops
	g.stops = nil
	g.mu.Unlock()
	for _, f := range stops {
		f()
	}
	if !waitFor(&g.wg, stopGrace) {
		g.log("the daemon's goroutines did not stop in time")
	}
}

// waitFor waits for wg, at most d; it reports whether wg was done.
func waitFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
