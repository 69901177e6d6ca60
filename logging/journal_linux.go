//go:build linux

package logging

import (
	"golang.org/x/sys/unix"
)

// sendLarge passes the entry in a sealed memfd with SCM_RIGHTS, as
// sd_journal_send does when a datagram is too large.
func (w *journalWriter) sendLarge(b []byte) error {
	fd, err := unix.MemfdCreate("journal-entry", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			return err
		}
		off += n
	}
	// journald only accepts a memfd that can no longer change.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS,
		unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return err
	}
	_, _, err = w.conn.WriteMsgUnix(nil, unix.UnixRights(fd), w.addr)
	return err
}
