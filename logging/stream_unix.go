//go:build unix

package logging

import (
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// IsJournalStream reports whether w is the stream systemd connected to the
// journal: JOURNAL_STREAM holds "device:inode" and w's file matches it
// (systemd.exec(5)). A writer that is not a file is never one.
func IsJournalStream(w io.Writer) bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" {
		return false
	}
	devS, inoS, ok := strings.Cut(js, ":")
	if !ok {
		return false
	}
	dev, err1 := strconv.ParseUint(devS, 10, 64)
	ino, err2 := strconv.ParseUint(inoS, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	sc, ok := w.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		return false
	}
	return uint64(st.Dev) == dev && uint64(st.Ino) == ino
}
