package dpv1

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/kioskd/kioskd/contract"
)

// ClockError is a TLS handshake refused because the server's certificate
// is not valid yet at this kiosk's clock. When the clock is also before
// kioskd's build date, the clock is certainly wrong (a board without a
// real-time clock, before NTP has synchronised it): it is still
// serverConnectionFailed, retried with backoff, but the message and the
// detail (contract.DetailClock, set by the call) say to wait for time sync, not to check
// the network.
type ClockError struct {
	Now       time.Time // the kiosk's clock at the handshake
	NotBefore time.Time // the certificate's start
	Built     time.Time // kioskd's build date; zero if unknown
}

func (e *ClockError) Error() string {
	day := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	if e.clockWrong() {
		return fmt.Sprintf("the system clock is wrong (it reads %s, before this kioskd was built on %s; the server's certificate is valid from %s); waiting for time sync",
			day(e.Now), day(e.Built), day(e.NotBefore))
	}
	return fmt.Sprintf("the server's certificate is not valid yet (valid from %s, the clock reads %s): the server's certificate or this kiosk's clock is wrong",
		day(e.NotBefore), day(e.Now))
}

func (e *ClockError) clockWrong() bool { return !e.Built.IsZero() && e.Now.Before(e.Built) }

// Detail is contract.DetailClock when the clock is known to be wrong;
// otherwise there is no detail (the server may be at fault).
func (e *ClockError) Detail() contract.ErrorDetail {
	if e.clockWrong() {
		return contract.DetailClock
	}
	return contract.NoDetail
}

// clockProblem recognises a handshake error caused by a certificate whose
// validity starts after now, and returns it as a *ClockError (nil for any
// other error). Go reports "not yet valid" as x509.Expired with the clock
// before NotBefore.
func clockProblem(err error, now, built time.Time) error {
	var ci x509.CertificateInvalidError
	if !errors.As(err, &ci) || ci.Reason != x509.Expired || ci.Cert == nil || !now.Before(ci.Cert.NotBefore) {
		return nil
	}
	return &ClockError{Now: now, NotBefore: ci.Cert.NotBefore, Built: built}
}

// tlsNow is the time the handshake verified against: cfg.Time if set,
// the wall clock otherwise.
func tlsNow(cfg *tls.Config) time.Time {
	if cfg != nil && cfg.Time != nil {
		return cfg.Time()
	}
	return time.Now()
}
