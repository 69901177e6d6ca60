//go:build !linux

package systemd

import "time"

// Notify is a no-op outside Linux: there is no systemd to tell.
func Notify(state string) (sent bool, err error) { return false, nil }

// WatchdogInterval reports no watchdog outside Linux.
func WatchdogInterval() (time.Duration, bool) { return 0, false }

func monotonicNow() time.Duration { return 0 }
