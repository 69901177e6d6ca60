//go:build !linux

package status

import (
	"net"
	"os"
)

func listen(path string, mode os.FileMode) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // Close removes the file itself
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	return ln, nil
}

// inode is not tracked here: Close always removes the path.
func inode(path string) uint64 {
	if _, err := os.Lstat(path); err != nil {
		return 0
	}
	return 1
}
