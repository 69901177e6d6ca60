package ledstest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// The fake records each call at the fake clock's time, in order; its
// State, Flashes and Wait read that record; Fail and Close refuse later
// calls as a broken or closed LED would.
func TestBackendRecords(t *testing.T) {
	clk := clocktest.New(t0)
	b := ledstest.New(clk)
	for range 3 { // three flashes, 100 ms lit, 100 ms dark
		if err := b.Set("green", true); err != nil {
			t.Fatal(err)
		}
		clk.Advance(100 * time.Millisecond)
		_ = b.Set("green", false)
		clk.Advance(100 * time.Millisecond)
	}
	ops := b.Ops()
	if len(ops) != 6 || !ops[1].At.Equal(t0.Add(100*time.Millisecond)) || ops[0].Kind != ledstest.OpSet {
		t.Fatalf("ops %v", ops)
	}
	if n := ledstest.Flashes(ops, "green", t0, t0.Add(time.Second)); n != 3 {
		t.Errorf("Flashes = %d, want 3", n)
	}
	if n := ledstest.Flashes(ops, "green", t0.Add(250*time.Millisecond), t0.Add(time.Second)); n != 1 {
		t.Errorf("Flashes from 250 ms = %d, want 1", n)
	}
	if st := b.State("green"); st.On {
		t.Errorf("State = %+v, want off", st)
	}
	broken := fmt.Errorf("broken: %w", leds.ErrNotSupported)
	b.Fail("red", broken)
	if err := b.Set("red", true); !errors.Is(err, broken) {
		t.Errorf("Set on a failed LED = %v", err)
	}
	if err := b.WaitLen(context.Background(), 7); err != nil {
		t.Errorf("WaitLen: %v (the failed call is recorded too)", err)
	}
	if err := b.Close(); err != nil || !b.Closed() {
		t.Fatalf("Close = %v, Closed %v", err, b.Closed())
	}
	if err := b.Set("green", true); err == nil {
		t.Error("Set after Close succeeded")
	}
}

// Blinker and CodeBlinker record the blinks and codes a real backend would
// run by itself, and Unsupported refuses them as a ledclass LED without a
// timer trigger does.
func TestBlinkers(t *testing.T) {
	clk := clocktest.New(t0)
	b := ledstest.NewCodeBlinker(clk)
	if err := b.Blink("amber", 250*time.Millisecond, 750*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st := b.State("amber"); !st.Blink {
		t.Errorf("State after Blink = %+v", st)
	}
	if err := b.BlinkCode("red", 3, 200*time.Millisecond, 200*time.Millisecond, time.Second); err != nil {
		t.Fatal(err)
	}
	if ops := b.Ops(); ops[len(ops)-1].Kind != ledstest.OpCode || ops[len(ops)-1].N != 3 {
		t.Errorf("last op %v, want a code of 3", ops[len(ops)-1])
	}
	b.Unsupported("green", fmt.Errorf("no timer: %w", leds.ErrNotSupported))
	if err := b.Blink("green", time.Second, time.Second); !errors.Is(err, leds.ErrNotSupported) {
		t.Errorf("Blink on an unsupported LED = %v", err)
	}
}

// MakeLEDClass builds a sysfs-like LED that ReadAttr reads back.
func TestLEDClassFiles(t *testing.T) {
	root := t.TempDir()
	if err := ledstest.MakeLEDClass(root, "kiosk:green", 255, "timer"); err != nil {
		t.Fatal(err)
	}
	if v, err := ledstest.ReadAttr(root, "kiosk:green", "max_brightness"); err != nil || v != "255" {
		t.Fatalf("max_brightness %q, %v", v, err)
	}
}
