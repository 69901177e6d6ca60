// Package sessiontest helps tests of code that runs a session.Supervisor:
// a Recorder of its events that a test waits on without sleeping.
package sessiontest

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/kioskd/kioskd/session"
)

// Recorder collects session events and lets a test wait for a condition
// on them.
type Recorder struct {
	mu      sync.Mutex
	events  []contract.Event
	changed chan struct{}
}

// NewRecorder returns an empty Recorder; feed it with Observe.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Record subscribes a new Recorder to sup's events.
func Record(sup *session.Supervisor) *Recorder {
	r := NewRecorder()
	ch, _ := sup.Subscribe()
	go r.Observe(ch)
	return r
}

// Observe records the events of ch until it is closed (a daemon observer,
// or a Supervisor's subscription).
func (r *Recorder) Observe(ch <-chan contract.Event) {
	for e := range ch {
		r.mu.Lock()
		r.events = append(r.events, e)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
}

// Snapshot returns the events so far and a channel closed at the next one.
func (r *Recorder) Snapshot() ([]contract.Event, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]contract.Event(nil), r.events...), r.changed
}

// WaitFor waits until cond holds for the events so far, and returns them;
// it fails the test, listing the events, when ctx ends first.
func (r *Recorder) WaitFor(t testing.TB, ctx context.Context, what string, cond func([]contract.Event) bool) []contract.Event {
	t.Helper()
	for {
		evs, changed := r.Snapshot()
		if cond(evs) {
			return evs
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; events:\n%s", what, Describe(evs))
		}
	}
}

// Describe lists events one a line, for test failures.
func Describe(evs []contract.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("  %-14s %-26s id=%s err=%s reason=%s delay=%v cause=%v\n", e.Kind, e.State, e.SessionID, e.ErrorName, e.Reason, e.Delay, e.Cause)
	}
	return s
}
