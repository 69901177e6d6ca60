//go:build linux

package systemd

import (
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Notify sends state to the service manager named by $NOTIFY_SOCKET.
// Without NOTIFY_SOCKET it returns (false, nil). NOTIFY_SOCKET is never
// unset, so later calls (watchdog pings) keep working.
func Notify(state string) (sent bool, err error) {
	// false: keep NOTIFY_SOCKET. true would unset it and kill every later ping.
	return daemon.SdNotify(false, state)
}

// WatchdogInterval returns WatchdogSec as systemd passes it in
// WATCHDOG_USEC, and whether the watchdog is on for this process
// (WATCHDOG_PID, when set, must be our pid). Ping at half of it.
func WatchdogInterval() (time.Duration, bool) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}

// monotonicNow reads CLOCK_MONOTONIC.
func monotonicNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
