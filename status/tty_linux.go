//go:build linux

package status

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// IsTerminal reports whether w is a terminal (for live rendering).
func IsTerminal(w io.Writer) bool {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var terr error
	if err := rc.Control(func(fd uintptr) { _, terr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		return false
	}
	return terr == nil
}
