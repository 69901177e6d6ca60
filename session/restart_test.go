package session_test

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// Network changes under the supervisor (docs/BEHAVIOUR.md section 3b):
// an ICE restart that works leaves the session Connected with no event at
// all; one the server spoils falls back to controlDisconnected and the
// same session is resumed at once.

func TestNetworkChangeStaysConnected(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	k := startKiosk(t, dp, t.TempDir())
	before := k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	k.dia.NetworkChanged("test")
	if _, err := dp.WaitFor(ctx, func([]dpsim.SessionInfo) bool { return dp.Stats().ICERestarts == 1 }); err != nil {
		t.Fatal("dpsim answered no restart")
	}
	// The restart's end reaches no event: the supervisor's snapshot is
	// still Connected, and another change restarts again on the same call.
	k.dia.NetworkChanged("test again")
	if _, err := dp.WaitFor(ctx, func([]dpsim.SessionInfo) bool { return dp.Stats().ICERestarts == 2 }); err != nil {
		t.Fatal("dpsim answered no second restart: the call did not stay Connected")
	}
	after, _ := k.rec.Snapshot()
	if len(after) != len(before) || k.sup.Snapshot().State != contract.Connected {
		t.Fatalf("events during the restarts:\n%s", sessiontest.Describe(after[len(before):]))
	}
	if ss := dp.Sessions(); len(ss) != 1 || ss[0].Resumes != 0 || ss[0].Connects != 1 {
		t.Fatalf("want one session, Connected once: %+v", ss)
	}
}

func TestFailedRestartResumesTheSession(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	sc := dpsim.DefaultScenario()
	sc.Hostile = 1 // the first connection only
	sc.HostileModes = []dpsim.HostileMode{dpsim.HostileRestartGarbage}
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	k := startKiosk(t, dp, t.TempDir())
	k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	sid := dp.Sessions()[0].ID
	k.dia.NetworkChanged("test")
	evs := k.rec.WaitFor(t, ctx, "Connected again", nthConnected(2))
	var reasons []contract.DisconnectReason
	for _, e := range evs {
		if e.Kind == contract.EventDisconnected {
			reasons = append(reasons, e.Reason)
		}
		if e.SessionID != "" && e.SessionID != sid {
			t.Fatalf("another session id %s:\n%s", e.SessionID, sessiontest.Describe(evs))
		}
	}
	if len(reasons) != 1 || reasons[0] != contract.ReasonControlDisconnected {
		t.Fatalf("disconnects %v, want one controlDisconnected\n%s", reasons, sessiontest.Describe(evs))
	}
	if ss := dp.Sessions(); len(ss) != 1 || ss[0].Resumes != 1 {
		t.Fatalf("want the session resumed once: %+v", ss)
	}
}
