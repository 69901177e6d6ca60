package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/leds"
)

// ErrNotRunning is returned by ApplyLEDs before Run has wired the LEDs
// or once its supervisor has stopped.
var ErrNotRunning = errors.New("daemon: not running")

// ErrOwnLEDs is returned by ApplyLEDs when Options.LEDs gave the backend:
// the daemon cannot open another of its own.
var ErrOwnLEDs = errors.New("daemon: the LEDs were given in Options; they cannot be reconfigured")

// ApplyLEDs switches the status LEDs to a new leds section while Run runs,
// without touching the session (a reload of the leds section alone,
// docs/BEHAVIOUR.md section 10): the old LEDs go off and their lines are
// released, then the new backend opens (falling back to none, logged, as
// at start) and shows at once what the session is in. Only one Run's
// reporters are reconfigured; the next generation starts from its config.
func (d *Daemon) ApplyLEDs(cfg config.LEDs) error {
	if d.opts.LEDs != nil {
		return ErrOwnLEDs
	}
	d.ledsMu.Lock()
	defer d.ledsMu.Unlock()
	if d.group == nil { // before Run has wired the LEDs, or once its supervisor has stopped
		return ErrNotRunning
	}
	// The old lines first: a GPIO line is held by one request at a time,
	// and the new profile may use the same lines.
	if err := d.leds.Close(); err != nil {
		d.opts.Log.Warn("status LEDs: closing the old ones", "error", err)
	}
	d.leds, d.ledsOpen = openLEDs(cfg, d.opts)
	d.followLEDs(d.group, d.leds, true)
	return nil
}

// followLEDs runs ctl on its own subscription to the session's events,
// ended when ctl's Run ends (closed by ApplyLEDs, or at shutdown). With
// seed, ctl first hears the session's current state from the snapshot
// (taken after subscribing, so no later event is missed): a controller
// started mid-session shows it at once instead of Disconnected until the
// next event.
func (d *Daemon) followLEDs(g *group, ctl *leds.Controller, seed bool) {
	events, cancel := d.sup.Subscribe()
	g.onStop(cancel)
	g.followers.Add(1)
	g.spawn(func(ctx context.Context) {
		defer g.followers.Done()
		defer cancel()
		if !seed {
			_ = ctl.Run(ctx, events)
			return
		}
		in := make(chan contract.Event)
		done := make(chan struct{})
		go func() {
			defer close(in)
			for _, e := range snapshotEvents(d.sup.Snapshot()) {
				select {
				case in <- e:
				case <-done:
					return
				}
			}
			for e := range events {
				select {
				case in <- e:
				case <-done:
					return
				}
			}
		}()
		_ = ctl.Run(ctx, in)
		close(done)
	})
}

// snapshotEvents are the events that bring an LED controller from
// Disconnected to what snap shows: the state, and the error code of a
// failure the session is waiting to retry after.
func snapshotEvents(snap contract.Snapshot) []contract.Event {
	evs := []contract.Event{{Kind: contract.EventState, State: snap.State, SessionID: snap.SessionID}}
	if snap.State == contract.Disconnected && snap.LastError != contract.NoError && !snap.NextRetry.IsZero() {
		evs = append(evs, contract.Event{Kind: contract.EventConnectFailed, State: snap.State, SessionID: snap.SessionID, ErrorName: snap.LastError, ErrorDetail: snap.LastDetail})
	}
	return evs
}

// currentLEDs answers the status socket's LED commands (leds identify,
// leds test) with the controller the daemon holds at the time, so they
// still reach the LEDs after ApplyLEDs swapped it.
type currentLEDs struct{ d *Daemon }

func (c currentLEDs) ctl() *leds.Controller {
	c.d.ledsMu.Lock()
	defer c.d.ledsMu.Unlock()
	return c.d.leds
}

func (c currentLEDs) Identify(ctx context.Context, d time.Duration, progress func(string)) error {
	return c.ctl().Identify(ctx, d, progress)
}

func (c currentLEDs) LampTest(ctx context.Context, progress func(string)) error {
	return c.ctl().LampTest(ctx, progress)
}

// ledsUp is kioskd_leds_up: the backend opened and its writes succeed.
func (d *Daemon) ledsUp() bool {
	d.ledsMu.Lock()
	defer d.ledsMu.Unlock()
	return d.ledsOpen && d.leds.Healthy()
}
