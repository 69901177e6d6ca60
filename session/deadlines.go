package session

import (
	"fmt"
	"sync"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock"
)

// deadlines are one call's connect deadlines (docs/BEHAVIOUR.md section 5):
// one for each connection step and one for the whole connect, both from
// the call's start. They belong to the supervisor, so they hold whatever
// the dialect: when one passes, the supervisor aborts the call, and the
// dialect tells its server.
//
// The call's goroutine moves them on (enter, through the reporter) before
// its state change is published; the supervisor's wait sees their timers
// fire and asks expired, which decides from the times, not from the
// firing, so a fire that raced a state change is harmless.
type deadlines struct {
	clk                         clock.Clock
	stepTimeout, connectTimeout time.Duration
	step, connect               clock.Timer

	mu        sync.Mutex
	state     contract.ConnectionState
	stepAt    time.Time
	connectAt time.Time
}

func newDeadlines(clk clock.Clock, step, connect time.Duration) *deadlines {
	now := clk.Now()
	return &deadlines{
		clk: clk, stepTimeout: step, connectTimeout: connect,
		stepAt: now.Add(step), connectAt: now.Add(connect),
		step: clk.NewTimer(step), connect: clk.NewTimer(connect),
	}
}

// enter starts the deadline of a new step; Connected ends both.
func (d *deadlines) enter(st contract.ConnectionState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.state = st
	if st == contract.Connected {
		d.step.Stop()
		d.connect.Stop()
		return
	}
	d.stepAt = d.clk.Now().Add(d.stepTimeout)
	d.step.Reset(d.stepTimeout)
}

// expired returns the error to abort the call with if a deadline has
// passed, nil if none has (or the call is Connected). Before the call has
// reported any state it has not reached the server yet: that is
// serverConnectionFailed (the server cannot be reached); after, a step
// that stalls is sessionTimeout.
func (d *deadlines) expired() *contract.ConnectError {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clk.Now()
	stepPassed, connectPassed := !now.Before(d.stepAt), !now.Before(d.connectAt)
	switch {
	case d.state == contract.Connected || !(stepPassed || connectPassed):
		return nil
	case d.state == contract.Disconnected:
		within := d.stepTimeout
		if connectPassed && d.connectTimeout < within {
			within = d.connectTimeout
		}
		return contract.NewConnectError(contract.ServerConnectionFailed, fmt.Errorf("the server was not reached within %s", within))
	case stepPassed:
		return contract.NewConnectError(contract.SessionTimeout, fmt.Errorf("%w: %s for more than %s", ErrStepStuck, d.state, d.stepTimeout))
	default:
		return contract.NewConnectError(contract.SessionTimeout, fmt.Errorf("not Connected within %s (stuck in %s)", d.connectTimeout, d.state))
	}
}

func (d *deadlines) stop() {
	d.step.Stop()
	d.connect.Stop()
}
