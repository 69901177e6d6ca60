//go:build linux

package status

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// listen binds path, sets its mode, and only then listens, so no client can
// connect while the socket still has the umask's mode.
func listen(path string, mode os.FileMode) (net.Listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener dups the descriptor
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		os.Remove(path)
		return nil, err
	}
	if err := unix.Listen(fd, 16); err != nil {
		os.Remove(path)
		return nil, os.NewSyscallError("listen", err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return ln, nil
}

func inode(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0
	}
	return uint64(st.Ino)
}
