//go:build !linux

package logging

import "errors"

func (w *journalWriter) sendLarge(b []byte) error {
	return errors.New("logging: no memfd on this system")
}
