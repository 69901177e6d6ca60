// Package systemd is kioskd's small window onto systemd: sd_notify
// (READY=1, RELOADING=1, STATUS=, STOPPING=1, WATCHDOG=1), the watchdog interval systemd
// asks for, and a Watchdog that pings only while the session supervisor
// makes progress (docs/BEHAVIOUR.md sections 5 and 10).
//
// Outside systemd (NOTIFY_SOCKET unset) and on non-Linux systems every
// notification is a silent no-op, so the daemon can call these functions
// unconditionally.
//
// Notifications always go through go-systemd's daemon.SdNotify with
// unsetEnvironment=false: passing true would unset NOTIFY_SOCKET after the
// first message and silently drop every later watchdog ping.
package systemd

import (
	"strconv"
	"strings"
)

// Notifier sends one sd_notify state string such as "WATCHDOG=1".
// sent is false (and err nil) when there is no service manager to notify.
// Tests fake it; the real one is SdNotifier.
type Notifier interface {
	Notify(state string) (sent bool, err error)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(state string) (bool, error)

// Notify calls f(state).
func (f NotifierFunc) Notify(state string) (bool, error) { return f(state) }

// SdNotifier is the Notifier that talks to systemd over $NOTIFY_SOCKET.
var SdNotifier Notifier = NotifierFunc(Notify)

// Ready tells systemd that start-up is finished (READY=1). kioskd sends it
// once the config is loaded and the devices are probed, not when Connected.
func Ready() { _, _ = Notify("READY=1") }

// Status sets the one-line status text shown by `systemctl status kioskd`.
// Line breaks are flattened so the text cannot inject another assignment.
func Status(s string) { _, _ = Notify("STATUS=" + oneLine(s)) }

// Reloading tells systemd that a configuration reload has begun
// (RELOADING=1); Ready ends it, whether the reload worked or not. The
// timestamp is CLOCK_MONOTONIC, as systemd 253's Type=notify-reload
// wants; systemd 252 (ExecReload=) ignores it.
func Reloading() {
	_, _ = Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicMicros(), 10))
}

// monotonicMicros is CLOCK_MONOTONIC in microseconds.
func monotonicMicros() int64 { return monotonicNow().Microseconds() }

// Stopping tells systemd that the service is shutting down (STOPPING=1).
func Stopping() { _, _ = Notify("STOPPING=1") }

// WatchdogPing sends one WATCHDOG=1 keep-alive. Prefer a Watchdog, which
// pings only while the supervisor makes progress.
//
// (It is not called Watchdog because that is the name of the type.)
func WatchdogPing() { _, _ = Notify("WATCHDOG=1") }

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
