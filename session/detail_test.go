package session_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
)

// clockCause is a cause that refines serverConnectionFailed, as
// dpv1.ClockError does for a kiosk whose clock is before the build date.
type clockCause struct{}

func (clockCause) Error() string       { return "the system clock is wrong (…); waiting for time sync" }
func (clockCause) ErrorDetail() string { return contract.DetailClock }

// TestDetailOfAFailureReachesTheEventAndTheSnapshot: the error name stays
// serverConnectionFailed (eight names), the detail rides along to the
// event (logs, LEDs' observers) and the snapshot (status), and the
// supervisor retries with backoff as for any serverConnectionFailed.
func TestDetailOfAFailureReachesTheEventAndTheSnapshot(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	k := startFake(t, ctx, t.TempDir(), nil)
	c := k.d.Next(t, ctx)
	c.Fail(contract.ServerConnectionFailed, errors.Join(errors.New("dial"), clockCause{}))
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	failed, _ := lastOf(evs, contract.EventConnectFailed)
	if failed.ErrorName != contract.ServerConnectionFailed || failed.Detail != contract.DetailClock {
		t.Fatalf("failure %+v, want serverConnectionFailed with detail clock", failed)
	}
	if snap := k.sup.Snapshot(); snap.LastError != contract.ServerConnectionFailed || snap.ErrorDetail != contract.DetailClock {
		t.Fatalf("snapshot %+v", snap)
	}
	// The next failure without a detail clears it.
	k.clk.Advance(time.Second)
	c = k.d.Next(t, ctx)
	c.Fail(contract.ServerConnectionFailed, errors.New("connection refused"))
	k.rec.WaitFor(t, ctx, "a second failure", func(evs []contract.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Kind == contract.EventConnectFailed {
				n++
			}
		}
		return n == 2
	})
	if snap := k.sup.Snapshot(); snap.ErrorDetail != "" {
		t.Fatalf("snapshot %+v keeps the old detail", snap)
	}
}
