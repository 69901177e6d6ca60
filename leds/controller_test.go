package leds_test

import (
	"github.com/kioskd/kioskd/contract"

	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// recorder is what every fake backend offers the tests.
type recorder interface {
	leds.Backend
	Ops() []ledstest.Op
	Len() int
	WaitLen(ctx context.Context, n int) error
	Wait(ctx context.Context, cond func([]ledstest.Op) bool) error
}

// rig runs a controller on a bus with a fake clock.
type rig struct {
	t    *testing.T
	clk  *clocktest.Clock
	bus  *contract.Bus
	ctl  *leds.Controller
	fake recorder
	logs *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// section is the leds section a file with only the keys set here gives:
// config's defaults, then those keys on top.
func section(set config.LEDs) config.LEDs {
	c := config.Default().LEDs
	if set.Backend != "" {
		c.Backend = set.Backend
	}
	if set.Profile != "" {
		c.Profile = set.Profile
	}
	if set.Lines != nil {
		c.Lines = set.Lines
	}
	if set.LEDClassRoot != "" {
		c.LEDClassRoot = set.LEDClassRoot
	}
	c.ActiveLow = set.ActiveLow
	return c
}

// startRig starts Run and waits for the known state at start: every LED
// off, then Disconnected's pattern.
func startRig(t *testing.T, profile leds.Profile, clk *clocktest.Clock, fake recorder) *rig {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctl, err := leds.New(section(config.LEDs{Profile: string(profile)}), fake, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: clk, bus: contract.NewBus(), ctl: ctl, fake: fake, logs: logs, done: make(chan error, 1)}
	events, cancel := r.bus.Subscribe()
	ctx, stop := context.WithCancel(context.Background())
	go func() { r.done <- ctl.Run(ctx, events) }()
	t.Cleanup(func() {
		stop()
		cancel()
		<-r.done
	})
	n := len(profile.Roles())
	if profile == leds.Traffic {
		n++ // red on
	}
	r.waitLen(n)
	return r
}

func (r *rig) waitLen(n int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.fake.WaitLen(ctx, n); err != nil {
		r.t.Fatalf("waiting for %d LED calls: %v\ncalls: %v", n, err, r.fake.Ops())
	}
}

// publish sends e and waits until the controller has made want more calls
// and, if it now blinks in software, re-armed its timer.
func (r *rig) publish(e contract.Event, want int) {
	r.t.Helper()
	n := r.fake.Len()
	r.bus.Publish(e)
	r.waitLen(n + want)
}

func (r *rig) state(s contract.ConnectionState, want int) {
	r.t.Helper()
	r.publish(contract.Event{Kind: contract.EventState, State: s}, want)
}

// step moves the fake time by d in increments of at most inc, waiting after
// each until the controller has handled the tick and armed its timer again.
// The controller writes before it arms, so every write of a tick is recorded
// when BlockUntil returns.
func (r *rig) step(d, inc time.Duration) {
	r.t.Helper()
	for d > 0 {
		s := min(inc, d)
		r.clk.Advance(s)
		r.clk.BlockUntil(1)
		d -= s
	}
}

type toggle struct {
	at time.Duration // since t0
	on bool
}

// setsOf returns the Set calls of name from ops[from:], as times since t0.
func setsOf(ops []ledstest.Op, from int, name string) []toggle {
	var out []toggle
	for _, o := range ops[from:] {
		if o.Kind == ledstest.OpSet && o.Name == name {
			out = append(out, toggle{o.At.Sub(t0), o.On})
		}
	}
	return out
}

func ops(ops []ledstest.Op) string {
	s := make([]string, len(ops))
	for i, o := range ops {
		s[i] = fmt.Sprintf("%v@%v", o, o.At.Sub(t0))
	}
	return strings.Join(s, ", ")
}

func checkSets(t *testing.T, got, want []toggle) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("set calls\n got %v\nwant %v", got, want)
	}
}

// squareWave lists the toggles of a blink of half-period h started at start,
// up to and including end.
func squareWave(start, h, end time.Duration) []toggle {
	var w []toggle
	on := true
	for at := start; at <= end; at += h {
		w = append(w, toggle{at, on})
		on = !on
	}
	return w
}

func TestKnownStateAtStart(t *testing.T) {
	for _, tt := range []struct {
		profile leds.Profile
		want    string
	}{
		{leds.Traffic, "red off, amber off, green off, red on"},
		{leds.Bar, "step1 off, step2 off, step3 off, step4 off"},
	} {
		clk := clocktest.New(t0)
		fake := ledstest.New(clk)
		r := startRig(t, tt.profile, clk, fake)
		var got []string
		for _, o := range fake.Ops() {
			got = append(got, o.String())
		}
		if strings.Join(got, ", ") != tt.want {
			t.Errorf("%s: start = %v, want %v", tt.profile, got, tt.want)
		}
		if clk.Waiters() != 0 {
			t.Errorf("%s: a timer is armed with nothing blinking", tt.profile)
		}
		_ = r
	}
}

// TestTrafficSoftware walks the traffic profile through every state on a
// backend that cannot blink, and checks every flash against the clock.
func TestTrafficSoftware(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)

	// Searching: amber 1 Hz.
	mark := fake.Len()
	r.state(contract.SearchingForDigitalPerson, 2) // red off, amber on
	r.clk.BlockUntil(1)
	r.step(3*time.Second, 250*ms)
	o := fake.Ops()
	checkSets(t, setsOf(o, mark, "red"), []toggle{{0, false}})
	checkSets(t, setsOf(o, mark, "amber"), squareWave(0, 500*ms, 3*time.Second))
	checkSets(t, setsOf(o, mark, "green"), nil)

	// DownloadingAssets: amber 4 Hz, restarted lit at the change.
	mark = fake.Len()
	r.state(contract.DownloadingAssets, 1)
	r.clk.BlockUntil(1)
	r.step(time.Second, 125*ms)
	o = fake.Ops()
	checkSets(t, setsOf(o, mark, "amber"), squareWave(3*time.Second, 125*ms, 4*time.Second))
	checkSets(t, setsOf(o, mark, "red"), nil)

	// ConnectingToDigitalPerson: green 2 Hz, amber off.
	mark = fake.Len()
	r.state(contract.ConnectingToDigitalPerson, 2)
	r.clk.BlockUntil(1)
	r.step(time.Second, 125*ms)
	o = fake.Ops()
	checkSets(t, setsOf(o, mark, "amber"), []toggle{{4 * time.Second, false}})
	checkSets(t, setsOf(o, mark, "green"), squareWave(4*time.Second, 250*ms, 5*time.Second))

	// Connected: green steady, no timer left.
	mark = fake.Len()
	r.state(contract.Connected, 1)
	if clk.Waiters() != 0 {
		t.Error("a timer is still armed while every LED is steady")
	}
	clk.Advance(10 * time.Second)
	if got := fake.Len(); got != mark+1 {
		t.Errorf("steady LEDs were written while time passed: %s", ops(fake.Ops()[mark:]))
	}
	checkSets(t, setsOf(fake.Ops(), mark, "green"), []toggle{{5 * time.Second, true}})

	// Disconnected: red on, green off.
	mark = fake.Len()
	r.state(contract.Disconnected, 2)
	o = fake.Ops()
	checkSets(t, setsOf(o, mark, "red"), []toggle{{15 * time.Second, true}})
	checkSets(t, setsOf(o, mark, "green"), []toggle{{15 * time.Second, false}})
}

// TestBarSoftware checks the bar: steps done are lit, the step in progress
// blinks at 2 Hz.
func TestBarSoftware(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Bar, clk, fake)

	mark := fake.Len()
	r.state(contract.SearchingForDigitalPerson, 2) // step1 on, step2 blinking
	r.clk.BlockUntil(1)
	r.step(time.Second, 125*ms)
	o := fake.Ops()
	checkSets(t, setsOf(o, mark, "step1"), []toggle{{0, true}})
	checkSets(t, setsOf(o, mark, "step2"), squareWave(0, 250*ms, time.Second))

	mark = fake.Len()
	r.state(contract.DownloadingAssets, 2) // step2 steady on, step3 blinking
	r.clk.BlockUntil(1)
	r.step(time.Second, 125*ms)
	o = fake.Ops()
	checkSets(t, setsOf(o, mark, "step1"), nil)
	checkSets(t, setsOf(o, mark, "step2"), []toggle{{time.Second, true}})
	checkSets(t, setsOf(o, mark, "step3"), squareWave(time.Second, 250*ms, 2*time.Second))

	mark = fake.Len()
	r.state(contract.ConnectingToDigitalPerson, 2)
	r.clk.BlockUntil(1)
	r.step(500*ms, 125*ms)
	o = fake.Ops()
	checkSets(t, setsOf(o, mark, "step4"), squareWave(2*time.Second, 250*ms, 2500*ms))

	mark = fake.Len()
	r.state(contract.Connected, 1)
	checkSets(t, setsOf(fake.Ops(), mark, "step4"), []toggle{{2500 * ms, true}})
	for _, s := range []string{"step1", "step2", "step3", "step4"} {
		if st := fake.State(s); !st.On {
			t.Errorf("Connected: %s is %+v, want on", s, st)
		}
	}

	r.state(contract.Disconnected, 4)
	for _, s := range []string{"step1", "step2", "step3", "step4"} {
		if st := fake.State(s); st.On {
			t.Errorf("Disconnected: %s is on", s)
		}
	}
}

// TestErrorCodes counts the flashes of every error code through the fake
// clock: n flashes of 250 ms, 250 ms apart, then 1.5 s more of dark, twice
// over; the other LEDs stay dark; leaving Disconnected ends the code.
func TestErrorCodes(t *testing.T) {
	for _, profile := range []leds.Profile{leds.Traffic, leds.Bar} {
		for _, name := range contract.AllErrorNames {
			n := codeOf[name.String()]
			t.Run(fmt.Sprintf("%s/%s", profile, name), func(t *testing.T) {
				clk := clocktest.New(t0)
				fake := ledstest.New(clk)
				r := startRig(t, profile, clk, fake)
				role := profile.Roles()[0]

				// The fall back to Disconnected first (nothing changes), then
				// the failure: the code starts lit at once.
				r.bus.Publish(contract.Event{Kind: contract.EventState, State: contract.Disconnected})
				mark := fake.Len()
				r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: name, State: contract.Disconnected}, 1)
				r.clk.BlockUntil(1)
				period := time.Duration(n)*500*ms + 1500*ms
				r.step(2*period, 250*ms)

				o := fake.Ops()
				var want []toggle
				for c := range 2 {
					for i := range n {
						at := time.Duration(c)*period + time.Duration(i)*500*ms
						want = append(want, toggle{at, true}, toggle{at + 250*ms, false})
					}
				}
				want = append(want, toggle{2 * period, true}) // the third group begins
				checkSets(t, setsOf(o, mark, role), want)
				for c := range 2 {
					from := t0.Add(time.Duration(c) * period)
					if got := ledstest.Flashes(o[mark:], role, from, from.Add(period)); got != n {
						t.Errorf("cycle %d: %d flashes, want %d", c, got, n)
					}
				}
				for _, other := range profile.Roles()[1:] {
					if s := setsOf(o, mark, other); len(s) != 0 {
						t.Errorf("%s changed during the code: %v", other, s)
					}
				}

				// The next attempt ends the code.
				mark = fake.Len()
				r.state(contract.SearchingForDigitalPerson, 2)
				if got := (leds.Condition{State: contract.SearchingForDigitalPerson}); r.ctl.Condition() != got {
					t.Errorf("condition %v, want %v", r.ctl.Condition(), got)
				}
				first := setsOf(fake.Ops(), mark, role)
				wantFirst := false // traffic: red off
				if profile == leds.Bar {
					wantFirst = true // bar: step1 on
				}
				checkSets(t, first, []toggle{{2 * period, wantFirst}})
			})
		}
	}
}

// TestUnchangedPatternKeepsPhase: an event that does not change an LED's
// pattern must not restart it, or a busy session would freeze the blink.
func TestUnchangedPatternKeepsPhase(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	mark := fake.Len()
	r.state(contract.ConnectingToDigitalPerson, 2) // red off, green on
	r.clk.BlockUntil(1)
	r.step(125*ms, 125*ms)
	r.bus.Publish(contract.Event{Kind: contract.EventRetry, Delay: time.Second})
	r.bus.Publish(contract.Event{Kind: contract.EventQueue, QueuePosition: 2})
	r.bus.Publish(contract.Event{Kind: contract.EventState, State: contract.ConnectingToDigitalPerson})
	// A media failure shows red's code; green goes on blinking in phase.
	r.publish(contract.Event{Kind: contract.EventMediaFailed, ErrorName: contract.MediaStreamFailed, State: contract.ConnectingToDigitalPerson}, 1)
	r.clk.BlockUntil(1)
	r.step(875*ms, 125*ms)
	o := fake.Ops()
	checkSets(t, setsOf(o, mark, "green"), squareWave(0, 250*ms, time.Second))
	checkSets(t, setsOf(o, mark, "red"), []toggle{{0, false}, {125 * ms, true}, {375 * ms, false}, {625 * ms, true}, {875 * ms, false}})
}

// TestDelegatedBlink: a backend that blinks by itself gets one Blink call
// per change and the controller arms no timer.
func TestDelegatedBlink(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.NewBlinker(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	for _, tt := range []struct {
		state contract.ConnectionState
		calls int
		led   string
		want  ledstest.State
	}{
		{contract.SearchingForDigitalPerson, 2, "amber", ledstest.State{Blink: true, Lit: 500 * ms, Dark: 500 * ms}},
		{contract.DownloadingAssets, 1, "amber", ledstest.State{Blink: true, Lit: 125 * ms, Dark: 125 * ms}},
		{contract.ConnectingToDigitalPerson, 2, "green", ledstest.State{Blink: true, Lit: 250 * ms, Dark: 250 * ms}},
		{contract.Connected, 1, "green", ledstest.State{On: true}},
	} {
		r.state(tt.state, tt.calls)
		if got := fake.State(tt.led); got != tt.want {
			t.Errorf("%v: %s = %+v, want %+v", tt.state, tt.led, got, tt.want)
		}
		if clk.Waiters() != 0 {
			t.Errorf("%v: a software timer is armed although the backend blinks", tt.state)
		}
	}
	if s := fake.State("amber"); s != (ledstest.State{}) {
		t.Errorf("amber after Connecting: %+v, want off", s)
	}
	// Error codes cannot be delegated to a Blinker: software.
	r.state(contract.Disconnected, 2) // green off, red on
	mark := fake.Len()
	r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.NoScene}, 1)
	r.clk.BlockUntil(1)
	r.step(2*time.Second, 250*ms)
	if got := ledstest.Flashes(fake.Ops()[mark:], "red", t0, t0.Add(2*time.Second)); got != 2 {
		t.Errorf("noScene: %d flashes in one cycle, want 2", got)
	}
}

// TestBlinkFallback: where the backend cannot blink one LED (a ledclass LED
// without a timer trigger), that LED blinks in software.
func TestBlinkFallback(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.NewBlinker(clk)
	fake.Unsupported("amber", fmt.Errorf("no timer: %w", leds.ErrNotSupported))
	r := startRig(t, leds.Traffic, clk, fake)
	mark := fake.Len()
	r.state(contract.SearchingForDigitalPerson, 2)
	r.clk.BlockUntil(1)
	r.step(time.Second, 250*ms)
	checkSets(t, setsOf(fake.Ops(), mark, "amber"), squareWave(0, 500*ms, time.Second))
	r.state(contract.ConnectingToDigitalPerson, 2) // amber off (stops the timer), green delegated
	if got := fake.State("green"); !got.Blink {
		t.Errorf("green = %+v, want a delegated blink", got)
	}
	if clk.Waiters() != 0 {
		t.Error("the software timer outlived the software blink")
	}
	if strings.Contains(r.logs.String(), "LED write failed") {
		t.Errorf("ErrNotSupported is not a failure worth an error line:\n%s", r.logs)
	}
}

// TestCodeDelegated: a backend that shows codes itself (the console) gets
// one BlinkCode call with the timing of docs/BEHAVIOUR.md section 8.
func TestCodeDelegated(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.NewCodeBlinker(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.ControlFailed}, 1)
	o := fake.Ops()
	last := o[len(o)-1]
	want := ledstest.Op{At: t0, Kind: ledstest.OpCode, Name: "red", N: 7, Lit: 250 * ms, Dark: 250 * ms, Pause: 1500 * ms}
	if last != want {
		t.Errorf("got %+v, want %+v", last, want)
	}
	if clk.Waiters() != 0 {
		t.Error("a software timer is armed for a delegated code")
	}
}

func TestStoppedAllOff(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	r.state(contract.ConnectingToDigitalPerson, 2)
	r.clk.BlockUntil(1)
	r.publish(contract.Event{Kind: contract.EventStopped}, 1) // green off
	for _, s := range leds.Traffic.Roles() {
		if fake.State(s).On {
			t.Errorf("stopped: %s is on", s)
		}
	}
	if clk.Waiters() != 0 {
		t.Error("stopped: a timer is still armed")
	}
	// A failure after the stop does not light anything.
	r.bus.Publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.NoScene})
	r.state(contract.SearchingForDigitalPerson, 1) // running again: amber blinks
	if !fake.State("amber").On {
		t.Error("a state after stopped did not show")
	}
}

// TestCloseTurnsAllOff closes a controller in the middle of a software
// blink and a delegated one: every LED ends off, the backend is closed, Run
// returns and nothing is written afterwards.
func TestCloseTurnsAllOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   func(*clocktest.Clock) recorder
	}{
		{"software", func(c *clocktest.Clock) recorder { return ledstest.New(c) }},
		{"delegated", func(c *clocktest.Clock) recorder { return ledstest.NewBlinker(c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(t0)
			fake := tc.mk(clk)
			ctl, err := leds.New(section(config.LEDs{Profile: "bar"}), fake, clk, nil)
			if err != nil {
				t.Fatal(err)
			}
			bus := contract.NewBus()
			events, cancel := bus.Subscribe()
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- ctl.Run(context.Background(), events) }()
			wait := func(n int) {
				ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
				defer c()
				if err := fake.WaitLen(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			wait(4)
			bus.Publish(contract.Event{Kind: contract.EventState, State: contract.DownloadingAssets})
			wait(4 + 3) // step1 on, step2 on, step3 blinking
			if err := ctl.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, leds.ErrClosed) {
				t.Errorf("Run returned %v, want ErrClosed", err)
			}
			n := fake.Len()
			clk.Advance(10 * time.Second)
			bus.Publish(contract.Event{Kind: contract.EventState, State: contract.Connected})
			if err := ctl.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			o := fake.Ops()
			if len(o) != n {
				t.Errorf("written after Close: %s", ops(o[n:]))
			}
			tail := o[len(o)-5:]
			for i, s := range leds.Bar.Roles() {
				if tail[i] != (ledstest.Op{At: t0, Kind: ledstest.OpSet, Name: s}) {
					t.Errorf("Close: call %d = %v, want %s off", i, tail[i], s)
				}
			}
			if tail[4].Kind != ledstest.OpClose {
				t.Errorf("Close did not close the backend: %v", tail[4])
			}
		})
	}
}

func TestCloseWithoutRun(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	ctl, err := leds.New(section(config.LEDs{}), fake, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ops(fake.Ops()); got != "red off@0s, amber off@0s, green off@0s, close@0s" {
		t.Errorf("got %s", got)
	}
	bus := contract.NewBus()
	ev, cancel := bus.Subscribe()
	defer cancel()
	if err := ctl.Run(context.Background(), ev); !errors.Is(err, leds.ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
}

func TestRunEnds(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	ctl, err := leds.New(section(config.LEDs{}), fake, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	bus := contract.NewBus()
	ev, cancel := bus.Subscribe()
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ctl.Run(context.Background(), ev) }()
	ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	if err := fake.WaitLen(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Run(context.Background(), ev); err == nil {
		t.Error("a second Run did not fail")
	}
	bus.Close() // the daemon shuts the bus down: Run returns, LEDs untouched
	if err := <-done; err != nil {
		t.Errorf("Run after the bus closed: %v", err)
	}
	if fake.Len() != 4 {
		t.Errorf("Run changed LEDs on its way out: %s", ops(fake.Ops()))
	}
}

// TestWriteFailureLoggedOnce: a failing LED is logged once, not at every
// flash, and its recovery once; the other LEDs keep working.
func TestWriteFailureLoggedOnce(t *testing.T) {
	clk := clocktest.New(t0)
	fake := ledstest.New(clk)
	r := startRig(t, leds.Traffic, clk, fake)
	fake.Fail("amber", errors.New("EIO"))
	mark := fake.Len()
	r.state(contract.SearchingForDigitalPerson, 2)
	r.clk.BlockUntil(1)
	r.step(2*time.Second, 250*ms)
	if got := len(setsOf(fake.Ops(), mark, "amber")); got != 5 {
		t.Errorf("amber writes while failing: %d, want 5 (it keeps trying)", got)
	}
	if got := strings.Count(r.logs.String(), "LED write failed"); got != 1 {
		t.Errorf("%d error lines, want 1:\n%s", got, r.logs)
	}
	fake.Fail("amber", nil)
	r.step(500*ms, 250*ms)
	if got := strings.Count(r.logs.String(), "LED writes work again"); got != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", got, r.logs)
	}
}

func TestNewErrors(t *testing.T) {
	clk := clocktest.New(t0)
	if _, err := leds.New(section(config.LEDs{}), nil, clk, nil); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := leds.New(section(config.LEDs{Profile: "disco"}), ledstest.New(clk), clk, nil); err == nil || !strings.Contains(err.Error(), "disco") {
		t.Errorf("unknown profile: %v", err)
	}
}
