//go:build !unix

package logging

import "io"

// IsJournalStream is false where there is no systemd.
func IsJournalStream(w io.Writer) bool { return false }
