//go:build !linux

package status

import "io"

// IsTerminal is false outside Linux: plain lines are always safe.
func IsTerminal(w io.Writer) bool { return false }
