package session

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFileName is the lock's file name in the state directory.
const LockFileName = "kioskd.lock"

// ErrLocked matches a state directory another process holds.
var ErrLocked = errors.New("another kioskd is running with this state directory")

// LockStateDir takes dir for this process: one kioskd per state directory,
// since two would take the session from each other (and fight over the
// LEDs, the status socket and the metrics port). The lock is an flock on
// dir/kioskd.lock, so it goes with the process however it ends; the file
// holds the holder's PID, which a second taker's error names. release
// gives it up.
func LockStateDir(dir string) (release func() error, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = "PID " + strconv.Itoa(pid)
			}
		}
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s holds %s)", ErrLocked, holder, path)
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	// Ours now: say who holds it.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f.Close, nil
}
