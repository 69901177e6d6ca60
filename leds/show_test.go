package leds_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// lines collects progress lines from another goroutine; each line is
// also sent on ch if set.
type lines struct {
	mu sync.Mutex
	l  []string
	ch chan string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.l = append(l.l, s)
	l.mu.Unlock()
	if l.ch != nil {
		l.ch <- s
	}
}
func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func waitOps(t *testing.T, fake recorder, what string, cond func([]ledstest.Op) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v\ncalls: %s", what, err, ops(fake.Ops()))
	}
}

// allLit: every role lit by Set after mark.
func allLit(roles []string, mark int) func([]ledstest.Op) bool {
	return func(o []ledstest.Op) bool {
		if len(o) < mark {
			return false
		}
		for _, r := range roles {
			if !ledstest.StateOf(o[mark:], r).On {
				return false
			}
		}
		return true
	}
}

// TestIdentifyFlashesEveryLEDTogether: identify on a Connected kiosk blinks
// red, amber and green in phase at 2.5 Hz for its duration, then the LEDs
// show Connected again.
func TestIdentifyFlashesEveryLEDTogether(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	r.state(contract.Connected, 2) // red off, green on

	mark := fake.Len()
	var got lines
	done := make(chan error, 1)
	go func() { done <- r.ctl.Identify(context.Background(), 2*time.Second, got.add) }()
	waitOps(t, fake, "every LED lit", allLit(leds.Traffic.Roles(), mark))
	r.clk.BlockUntil(1)
	r.step(2*time.Second-200*ms, 200*ms)
	o := fake.Ops()
	want := squareWave(0, 200*ms, 1800*ms)
	for _, role := range []string{"red", "amber"} {
		checkSets(t, setsOf(o, mark, role), want)
	}
	// green was on already: its first level is written again, then the same wave.
	checkSets(t, setsOf(o, mark, "green"), want)

	// The end of the identify: back to Connected, no timer left.
	mark = fake.Len()
	clk.Advance(200 * ms)
	if err := <-done; err != nil {
		t.Fatalf("Identify: %v", err)
	}
	waitOps(t, fake, "Connected again", func(o []ledstest.Op) bool {
		return len(o) >= mark+3 // red off, amber off, green on: each LED written at the end
	})
	if s := ops(fake.Ops()[mark:]); !strings.HasPrefix(s, "red off@2s, amber off@2s, green on@2s") {
		t.Errorf("at the end of the identify: %s", s)
	}
	if l := got.get(); len(l) != 1 || !strings.Contains(l[0], "identify") || !strings.Contains(l[0], "red blinks 2.5/s, amber blinks 2.5/s, green blinks 2.5/s") {
		t.Errorf("progress lines: %q", l)
	}
	if clk.Waiters() != 0 {
		t.Error("a timer is still armed after identify, with every LED steady")
	}
}

// TestIdentifyIsNoState: no condition of either profile looks like
// identify, and identify lights every LED at once, which no condition does.
func TestIdentifyIsNoState(t *testing.T) {
	for _, p := range []leds.Profile{leds.Traffic, leds.Bar} {
		id := p.IdentifyStep(time.Second).Patterns
		errs := append([]contract.ErrorName{contract.NoError}, contract.AllErrorNames...)
		for s := contract.Disconnected; s <= contract.Connected; s++ {
			for _, e := range errs {
				pats := p.Patterns(leds.Condition{State: s, Err: e})
				blinking := 0
				for _, r := range p.Roles() {
					if pats[r].Kind() == leds.KindBlink && pats[r].Hz() == leds.IdentifyHz {
						t.Errorf("%s %v+%v: %s blinks at identify's rate", p, s, e, r)
					}
					if pats[r].Kind() == leds.KindBlink {
						blinking++
					}
				}
				if blinking > 1 {
					t.Errorf("%s %v+%v: %d LEDs blink; identify is the only look with more than one", p, s, e, blinking)
				}
			}
		}
		for _, r := range p.Roles() {
			if id[r] != leds.Blink(leds.IdentifyHz) {
				t.Errorf("%s identify: %s is %v", p, r, id[r])
			}
		}
	}
}

// TestLampTestShowsEveryStep walks the lamp test step by step on a backend
// that blinks and shows codes by itself, so each step is one set of calls:
// each LED alone, all, every state, every error code, then the condition.
func TestLampTestShowsEveryStep(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.NewCodeBlinker(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	r.state(contract.SearchingForDigitalPerson, 2) // red off, amber blinks (delegated)

	steps := leds.Traffic.LampTest()
	got := lines{ch: make(chan string, len(steps))}
	done := make(chan error, 1)
	go func() { done <- r.ctl.LampTest(context.Background(), got.add) }()

	type look struct{ red, amber, green string }
	lookOf := func(o []ledstest.Op) look {
		f := func(name string) string {
			s := ledstest.StateOf(o, name)
			switch {
			case s.Code > 0:
				return fmt.Sprintf("code %d", s.Code)
			case s.Blink:
				return fmt.Sprintf("blink %v", s.Lit)
			case s.On:
				return "on"
			}
			return "off"
		}
		return look{f("red"), f("amber"), f("green")}
	}
	want := []look{
		{"on", "off", "off"}, {"off", "on", "off"}, {"off", "off", "on"}, {"on", "on", "on"},
		{"on", "off", "off"}, {"off", "blink 500ms", "off"}, {"off", "blink 125ms", "off"}, {"off", "off", "blink 250ms"}, {"off", "off", "on"},
	}
	for n := 1; n <= 8; n++ {
		want = append(want, look{fmt.Sprintf("code %d", n), "off", "off"})
	}
	want = append(want, look{"code 5", "off", "on"}, look{"blink 200ms", "blink 200ms", "blink 200ms"})
	if len(steps) != len(want) {
		t.Fatalf("%d steps, want %d: %v", len(steps), len(want), steps)
	}
	var total time.Duration
	for i, s := range steps {
		<-got.ch // the step's calls are made before its line
		if l := lookOf(fake.Ops()); l != want[i] {
			t.Errorf("step %d (%s): LEDs %+v, want %+v", i+1, s.Label, l, want[i])
		}
		total += s.For
		clk.BlockUntil(1)
		clk.Advance(s.For)
	}
	if err := <-done; err != nil {
		t.Fatalf("LampTest: %v", err)
	}
	if total < 40*time.Second || total > 60*time.Second {
		t.Errorf("the lamp test lasts %v", total)
	}
	waitOps(t, fake, "the condition again", func(o []ledstest.Op) bool {
		return lookOf(o) == look{"off", "blink 500ms", "off"}
	})
	l := got.get()
	for i, want := range []string{"LED red alone", "every LED", "state Connected", "error 3 serverConnectionFailed", "error 8 noSessionToResume", "identify"} {
		if !strings.Contains(strings.Join(l, "\n"), want) {
			t.Errorf("progress (%d) lacks %q:\n%s", i, want, strings.Join(l, "\n"))
		}
	}
	if !strings.Contains(l[0], " 1/19") || !strings.Contains(l[0], "red on, amber off, green off") {
		t.Errorf("first line %q", l[0])
	}
}

// TestShowCancelReplaceClose: a cancelled show gives the LEDs back at once;
// a second show replaces the first; Close ends a show.
func TestShowCancelReplaceClose(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake) // Disconnected: red on

	ctx, cancel := context.WithCancel(context.Background())
	mark := fake.Len()
	done := make(chan error, 1)
	go func() { done <- r.ctl.Identify(ctx, time.Minute, nil) }()
	waitOps(t, fake, "identify", allLit(leds.Traffic.Roles(), mark))
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled identify: %v", err)
	}
	waitOps(t, fake, "red alone again", func(o []ledstest.Op) bool {
		return ledstest.StateOf(o, "red").On && !ledstest.StateOf(o, "amber").On && !ledstest.StateOf(o, "green").On
	})

	lamp := make(chan error, 1)
	started := lines{ch: make(chan string, 1)}
	go func() { lamp <- r.ctl.LampTest(context.Background(), started.add) }()
	<-started.ch
	go func() { done <- r.ctl.Identify(context.Background(), time.Minute, nil) }()
	if err := <-lamp; !errors.Is(err, leds.ErrShowReplaced) {
		t.Fatalf("replaced lamp test: %v", err)
	}
	if err := r.ctl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, leds.ErrClosed) {
		t.Fatalf("identify at Close: %v", err)
	}
	if _, err := r.ctl.Start(leds.Traffic.LampTest()); !errors.Is(err, leds.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	for _, bad := range []time.Duration{0, -time.Second, 2 * time.Hour} {
		if err := r.ctl.Identify(context.Background(), bad, nil); !errors.Is(err, leds.ErrBadIdentify) {
			t.Errorf("Identify(%v): %v", bad, err)
		}
	}
}

// TestShowBeforeRun: a show started before Run is Run's first look (after
// every LED off), so a stopped kiosk's lamp test never flashes red first.
func TestShowBeforeRun(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	ctl, err := leds.New(section(config.LEDs{Profile: string(leds.Traffic)}), fake, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := ctl.Start([]leds.Step{{Label: "amber", Patterns: map[string]leds.Pattern{"amber": leds.On}, For: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan contract.Event, 1)
	events <- contract.Event{Kind: contract.EventStopped}
	ran := make(chan error, 1)
	go func() { ran <- ctl.Run(context.Background(), events) }()
	if i := <-sh.Progress(); i != 0 {
		t.Fatalf("first step %d", i)
	}
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	for range sh.Progress() {
	}
	if err := sh.Err(); err != nil {
		t.Fatal(err)
	}
	waitOps(t, fake, "amber off", func(o []ledstest.Op) bool { return len(o) >= 5 })
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	<-ran
	var got []string
	for _, o := range fake.Ops() {
		got = append(got, o.String())
	}
	if s := strings.Join(got, ", "); !strings.HasPrefix(s, "red off, amber off, green off, amber on, amber off") || strings.Contains(s, "red on") {
		t.Errorf("calls: %s", s)
	}
}
