package clocktest_test

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func fired(c <-chan time.Time) (time.Time, bool) {
	select {
	case at := <-c:
		return at, true
	default:
		return time.Time{}, false
	}
}

// A timer fires exactly when time reaches it, at its own time, once;
// Stop and Reset behave like time.Timer's.
func TestTimer(t *testing.T) {
	clk := clocktest.New(t0)
	tm := clk.NewTimer(time.Second)
	clk.Advance(999 * time.Millisecond)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("fired early")
	}
	clk.Advance(5 * time.Millisecond)
	if at, ok := fired(tm.C()); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("fired %v at %v, want at +1s", ok, at)
	}
	if !clk.Now().Equal(t0.Add(1004 * time.Millisecond)) {
		t.Fatalf("Now %v after advancing 1.004 s", clk.Now())
	}
	clk.Advance(time.Hour)
	if _, ok := fired(tm.C()); ok || clk.Waiters() != 0 {
		t.Fatal("a timer fired twice, or stayed armed")
	}
	if tm.Reset(time.Second) {
		t.Error("Reset of a fired timer reports it was active")
	}
	if !tm.Stop() {
		t.Error("Stop of an armed timer reports it was not")
	}
	clk.Advance(time.Hour)
	if _, ok := fired(tm.C()); ok {
		t.Fatal("a stopped timer fired")
	}
}

// A ticker fires every period, dropping ticks nobody read, like
// time.Ticker; Stop disarms it.
func TestTicker(t *testing.T) {
	clk := clocktest.New(t0)
	tk := clk.NewTicker(100 * time.Millisecond)
	clk.Advance(100 * time.Millisecond)
	if at, ok := fired(tk.C()); !ok || !at.Equal(t0.Add(100*time.Millisecond)) {
		t.Fatalf("first tick %v %v", ok, at)
	}
	clk.Advance(time.Second) // ten ticks, one buffered
	if at, ok := fired(tk.C()); !ok || !at.Equal(t0.Add(200*time.Millisecond)) {
		t.Fatalf("the buffered tick %v %v, want the first unread one", ok, at)
	}
	if _, ok := fired(tk.C()); ok {
		t.Fatal("more than one tick buffered")
	}
	tk.Stop()
	clk.Advance(time.Second)
	if _, ok := fired(tk.C()); ok || clk.Waiters() != 0 {
		t.Fatal("a stopped ticker ticked or stayed armed")
	}
}

// BlockUntil returns once the code under test is waiting.
func TestBlockUntil(t *testing.T) {
	clk := clocktest.New(t0)
	done := make(chan time.Time)
	go func() { done <- <-clk.NewTimer(time.Minute).C() }()
	clk.BlockUntil(1)
	clk.Advance(time.Minute)
	if at := <-done; !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("fired at %v", at)
	}
}
