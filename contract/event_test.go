package contract

import (
	"testing"
)

// TestBusDeliversInOrderWithoutBlocking: a subscriber that does not read
// never blocks the publisher, loses nothing, and gets every event in order;
// Close ends the subscription once the queue is drained.
func TestBusDeliversInOrderWithoutBlocking(t *testing.T) {
	b := NewBus()
	slow, cancelSlow := b.Subscribe()
	defer cancelSlow()
	const n = 1000
	for i := 0; i < n; i++ {
		b.Publish(Event{Kind: EventRetry, Attempt: i}) // must not block: nobody reads yet
	}
	b.Close()
	i := 0
	for e := range slow {
		if e.Attempt != i {
			t.Fatalf("event %d carries attempt %d: out of order", i, e.Attempt)
		}
		i++
	}
	if i != n {
		t.Fatalf("got %d events, want %d", i, n)
	}
	late, _ := b.Subscribe()
	if _, ok := <-late; ok {
		t.Fatal("a subscription after Close delivered an event")
	}
}

// TestBusCancelEndsOnlyThatSubscription.
func TestBusCancelEndsOnlyThatSubscription(t *testing.T) {
	b := NewBus()
	a, cancelA := b.Subscribe()
	c, cancelC := b.Subscribe()
	defer cancelC()
	cancelA()
	b.Publish(Event{Kind: EventState, State: Connected})
	if e := <-c; e.State != Connected {
		t.Fatalf("the other subscriber got %+v", e)
	}
	for range a { // closed after cancel; anything queued before is allowed
	}
	b.Close()
}
