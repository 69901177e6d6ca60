package sessiontest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// A Recorder keeps every event of the channel in order, and WaitFor
// returns as soon as its condition holds, without polling.
func TestRecorder(t *testing.T) {
	ch := make(chan contract.Event)
	r := sessiontest.NewRecorder()
	go r.Observe(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		ch <- contract.Event{Kind: contract.EventState, State: contract.SearchingForDigitalPerson}
		ch <- contract.Event{Kind: contract.EventState, State: contract.Connected, SessionID: "abc"}
		close(ch)
	}()
	evs := r.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool {
		return len(evs) > 0 && evs[len(evs)-1].State == contract.Connected
	})
	if len(evs) != 2 || evs[0].State != contract.SearchingForDigitalPerson {
		t.Fatalf("events %v", evs)
	}
	if d := sessiontest.Describe(evs); !strings.Contains(d, "Connected") || !strings.Contains(d, "id=abc") {
		t.Fatalf("Describe: %q", d)
	}
	snap, _ := r.Snapshot()
	snap[0].SessionID = "changed"
	if again, _ := r.Snapshot(); again[0].SessionID == "changed" {
		t.Fatal("Snapshot shares the recorder's events")
	}
}
