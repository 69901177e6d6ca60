package leds_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// TestHealthyFollowsWrites: Healthy (kioskd_leds_up) is false while an
// LED's writes fail and true again once they work.
func TestHealthyFollowsWrites(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	if !r.ctl.Healthy() {
		t.Fatal("unhealthy at start")
	}
	fake.Fail("amber", errors.New("EIO"))
	r.state(contract.SearchingForDigitalPerson, 2)
	r.clk.BlockUntil(1)
	if r.ctl.Healthy() {
		t.Fatal("healthy while amber's writes fail")
	}
	fake.Fail("amber", nil)
	r.step(500*time.Millisecond, 250*time.Millisecond)
	if !r.ctl.Healthy() {
		t.Fatal("still unhealthy after amber's writes work again")
	}
}
