package leds_test

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// TestRefusedCredentialFlashesLong: serverConnectionFailed with the detail
// unauthorized (a refused token) shows the same count, 3, in a rhythm of
// its own: ¾ s flashes instead of ¼ s, same gaps and pause, so staff can
// tell "call support" from "check the network" (the README's staff
// table). Driven in software on the red LED, timed on a fake clock; the
// next attempt ends it, and a plain serverConnectionFailed flashes short
// again.
func TestRefusedCredentialFlashesLong(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)

	mark := fake.Len()
	r.publish(contract.Event{Kind: contract.EventConnectFailed, State: contract.Disconnected,
		ErrorName: contract.ServerConnectionFailed, ErrorDetail: contract.DetailUnauthorized}, 1)
	r.clk.BlockUntil(1)
	if got := r.ctl.Condition(); got.Err != contract.ServerConnectionFailed || got.Detail != contract.DetailUnauthorized {
		t.Fatalf("condition %v", got)
	}
	const n = 3
	flash, gap, pause := 750*ms, 250*ms, 1500*ms
	period := n*(flash+gap) + pause // 4.5 s
	r.step(2*period, 250*ms)
	var want []toggle
	for c := range 2 {
		for i := range n {
			at := time.Duration(c)*period + time.Duration(i)*(flash+gap)
			want = append(want, toggle{at, true}, toggle{at + flash, false})
		}
	}
	want = append(want, toggle{2 * period, true})
	o := fake.Ops()
	checkSets(t, setsOf(o, mark, "red"), want)
	if got := ledstest.Flashes(o[mark:], "red", t0, t0.Add(period)); got != n {
		t.Errorf("%d flashes in a cycle, want %d", got, n)
	}

	// The next attempt ends the code; a plain failure flashes short.
	r.state(contract.SearchingForDigitalPerson, 2)
	if got := r.ctl.Condition(); got.Err != contract.NoError || got.Detail != contract.NoDetail {
		t.Fatalf("after the next attempt: condition %v", got)
	}
	cond := leds.Condition{}.Next(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.ServerConnectionFailed})
	if p := leds.Traffic.Patterns(cond)["red"]; p != leds.Code(3) || p.Long() {
		t.Errorf("plain serverConnectionFailed: red %v, want code 3", p)
	}
	cond = cond.Next(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.ServerConnectionFailed, ErrorDetail: contract.DetailUnauthorized})
	if p := leds.Bar.Patterns(cond)["step1"]; p != leds.CodeLong(3) || p.String() != "code 3 long" {
		t.Errorf("bar, refused credential: step1 %v, want code 3 long", p)
	}
}

// TestLongCodeDelegated: a backend that shows codes by itself is handed
// the long flash.
func TestLongCodeDelegated(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.NewCodeBlinker(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.ServerConnectionFailed, ErrorDetail: contract.DetailUnauthorized}, 1)
	o := fake.Ops()
	want := ledstest.Op{At: t0, Kind: ledstest.OpCode, Name: "red", N: 3, Lit: 750 * ms, Dark: 250 * ms, Pause: 1500 * ms}
	if last := o[len(o)-1]; last != want {
		t.Errorf("got %+v, want %+v", last, want)
	}
}

// TestConsoleShowsLongCode: the console (the demo, a kiosk without wired
// LEDs) marks a long code as such.
func TestConsoleShowsLongCode(t *testing.T) {
	var out syncBuffer
	c := leds.NewConsole(&out, []string{"red", "amber", "green"})
	if err := c.BlinkCode("red", 3, leds.CodeLongOn, leds.CodeOff, leds.CodePause); err != nil {
		t.Fatal(err)
	}
	if err := c.BlinkCode("red", 3, leds.CodeOn, leds.CodeOff, leds.CodePause); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "LEDs: red ◐×3(long) amber ○ green ○\nLEDs: red ◐×3 amber ○ green ○\n"; got != want {
		t.Errorf("console printed %q, want %q", got, want)
	}
}
