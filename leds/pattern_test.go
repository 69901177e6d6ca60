package leds_test

import (
	"github.com/kioskd/kioskd/contract"

	"testing"
	"time"

	"github.com/kioskd/kioskd/leds"
)

const ms = time.Millisecond

func TestPatternAt(t *testing.T) {
	tests := []struct {
		p       leds.Pattern
		elapsed time.Duration
		on      bool
		next    time.Duration
	}{
		{leds.Off, 0, false, 0},
		{leds.Off, time.Hour, false, 0},
		{leds.On, 0, true, 0},
		{leds.On, time.Hour, true, 0},
		{leds.Blink(1), 0, true, 500 * ms},
		{leds.Blink(1), 499 * ms, true, 1 * ms},
		{leds.Blink(1), 500 * ms, false, 500 * ms},
		{leds.Blink(1), 1000 * ms, true, 500 * ms},
		{leds.Blink(1), 10*time.Second + 750*ms, false, 250 * ms},
		{leds.Blink(2), 0, true, 250 * ms},
		{leds.Blink(2), 250 * ms, false, 250 * ms},
		{leds.Blink(4), 125 * ms, false, 125 * ms},
		{leds.Blink(4), 250 * ms, true, 125 * ms},
		{leds.Blink(1), -time.Second, true, 500 * ms}, // a clock step back starts over
		// Code(2): on 0-250, off 250-500, on 500-750, off 750-2500 (gap + pause), repeat.
		{leds.Code(2), 0, true, 250 * ms},
		{leds.Code(2), 250 * ms, false, 250 * ms},
		{leds.Code(2), 500 * ms, true, 250 * ms},
		{leds.Code(2), 750 * ms, false, 1750 * ms},
		{leds.Code(2), 2000 * ms, false, 500 * ms},
		{leds.Code(2), 2500 * ms, true, 250 * ms},
		{leds.Code(1), 250 * ms, false, 1750 * ms},
		{leds.Code(1), 2000 * ms, true, 250 * ms},
	}
	for _, tt := range tests {
		on, next := tt.p.At(tt.elapsed)
		if on != tt.on || next != tt.next {
			t.Errorf("%v.At(%v) = %v, %v; want %v, %v", tt.p, tt.elapsed, on, next, tt.on, tt.next)
		}
	}
}

func TestPatternConstructors(t *testing.T) {
	if leds.Blink(0) != leds.Off || leds.Blink(-1) != leds.Off || leds.Code(0) != leds.Off {
		t.Error("a blink of 0 Hz or a code of 0 flashes must be Off")
	}
	if leds.Blink(2) != leds.Blink(2) || leds.Blink(2) == leds.Blink(4) || leds.Code(3) == leds.Code(4) {
		t.Error("patterns must compare by value")
	}
	for _, tt := range []struct {
		p      leds.Pattern
		s      string
		period time.Duration
	}{
		{leds.Off, "off", 0},
		{leds.On, "on", 0},
		{leds.Blink(1), "blink 1Hz", time.Second},
		{leds.Blink(4), "blink 4Hz", 250 * ms},
		{leds.Code(1), "code 1", 2000 * ms},
		{leds.Code(8), "code 8", 5500 * ms},
	} {
		if tt.p.String() != tt.s || tt.p.Period() != tt.period {
			t.Errorf("%v: String %q Period %v; want %q, %v", tt.p, tt.p.String(), tt.p.Period(), tt.s, tt.period)
		}
	}
}

// codeOf is docs/BEHAVIOUR.md section 2's numbering, written out here so
// that a change of the numbers in package contract fails this test instead
// of quietly changing what the LEDs tell the staff.
var codeOf = map[string]int{
	"noUserMedia": 1, "noScene": 2, "serverConnectionFailed": 3, "notSupported": 4,
	"mediaStreamFailed": 5, "sessionTimeout": 6, "controlFailed": 7, "noSessionToResume": 8,
}

type pats = map[string]leds.Pattern

func TestPatternsTraffic(t *testing.T) {
	off := leds.Off
	tests := []struct {
		state contract.ConnectionState
		want  pats
	}{
		{contract.Disconnected, pats{"red": leds.On, "amber": off, "green": off}},
		{contract.SearchingForDigitalPerson, pats{"red": off, "amber": leds.Blink(1), "green": off}},
		{contract.DownloadingAssets, pats{"red": off, "amber": leds.Blink(4), "green": off}},
		{contract.ConnectingToDigitalPerson, pats{"red": off, "amber": off, "green": leds.Blink(2)}},
		{contract.Connected, pats{"red": off, "amber": off, "green": leds.On}},
		{contract.ConnectionState(42), pats{"red": leds.On, "amber": off, "green": off}},
	}
	for _, tt := range tests {
		checkPatterns(t, leds.Traffic, leds.Condition{State: tt.state}, tt.want)
		// Stopped is dark whatever the state.
		checkPatterns(t, leds.Traffic, leds.Condition{State: tt.state, Stopped: true, Err: contract.NoScene},
			pats{"red": off, "amber": off, "green": off})
	}
	for _, name := range contract.AllErrorNames {
		n := codeOf[name.String()]
		// Waiting after an error: red flashes the code, the rest dark.
		checkPatterns(t, leds.Traffic, leds.Condition{State: contract.Disconnected, Err: name},
			pats{"red": leds.Code(n), "amber": off, "green": off})
		// A capture failure while Connected: green stays on, red flashes the code.
		checkPatterns(t, leds.Traffic, leds.Condition{State: contract.Connected, Err: name},
			pats{"red": leds.Code(n), "amber": off, "green": leds.On})
	}
}

func TestPatternsBar(t *testing.T) {
	on, off, blink := leds.On, leds.Off, leds.Blink(2)
	tests := []struct {
		state contract.ConnectionState
		want  pats
	}{
		{contract.Disconnected, pats{"step1": off, "step2": off, "step3": off, "step4": off}},
		{contract.SearchingForDigitalPerson, pats{"step1": on, "step2": blink, "step3": off, "step4": off}},
		{contract.DownloadingAssets, pats{"step1": on, "step2": on, "step3": blink, "step4": off}},
		{contract.ConnectingToDigitalPerson, pats{"step1": on, "step2": on, "step3": on, "step4": blink}},
		{contract.Connected, pats{"step1": on, "step2": on, "step3": on, "step4": on}},
	}
	for _, tt := range tests {
		checkPatterns(t, leds.Bar, leds.Condition{State: tt.state}, tt.want)
		checkPatterns(t, leds.Bar, leds.Condition{State: tt.state, Stopped: true},
			pats{"step1": off, "step2": off, "step3": off, "step4": off})
	}
	for _, name := range contract.AllErrorNames {
		n := codeOf[name.String()]
		checkPatterns(t, leds.Bar, leds.Condition{State: contract.Disconnected, Err: name},
			pats{"step1": leds.Code(n), "step2": off, "step3": off, "step4": off})
		checkPatterns(t, leds.Bar, leds.Condition{State: contract.Connected, Err: name},
			pats{"step1": leds.Code(n), "step2": on, "step3": on, "step4": on})
	}
}

func checkPatterns(t *testing.T, p leds.Profile, c leds.Condition, want pats) {
	t.Helper()
	got := p.Patterns(c)
	if len(got) != len(want) {
		t.Errorf("%s %v: got %v, want %v", p, c, got, want)
		return
	}
	for r, w := range want {
		if got[r] != w {
			t.Errorf("%s %v: %s = %v, want %v", p, c, r, got[r], w)
		}
	}
}

func TestProfiles(t *testing.T) {
	if got := leds.Traffic.Roles(); len(got) != 3 || got[0] != "red" || got[1] != "amber" || got[2] != "green" {
		t.Errorf("traffic roles %v", got)
	}
	if got := leds.Bar.Roles(); len(got) != 4 || got[0] != "step1" || got[3] != "step4" {
		t.Errorf("bar roles %v", got)
	}
	if len(leds.Profile("disco").Patterns(leds.Condition{})) != 0 {
		t.Error("an unknown profile has no LEDs")
	}
}

func TestConditionNext(t *testing.T) {
	st := func(s contract.ConnectionState) contract.Event {
		return contract.Event{Kind: contract.EventState, State: s}
	}
	failed := func(n contract.ErrorName) contract.Event {
		return contract.Event{Kind: contract.EventConnectFailed, ErrorName: n, State: contract.Disconnected}
	}
	dis, search, conn := contract.Disconnected, contract.SearchingForDigitalPerson, contract.Connected
	tests := []struct {
		name   string
		events []contract.Event
		want   leds.Condition
	}{
		{"start", nil, leds.Condition{State: dis}},
		{"state", []contract.Event{st(search)}, leds.Condition{State: search}},
		{"failure then Disconnected keeps the code",
			[]contract.Event{st(search), failed(contract.NoScene), st(dis)},
			leds.Condition{State: dis, Err: contract.NoScene}},
		{"Disconnected then failure",
			[]contract.Event{st(search), st(dis), failed(contract.ControlFailed)},
			leds.Condition{State: dis, Err: contract.ControlFailed}},
		{"retry and queue updates keep the code",
			[]contract.Event{failed(contract.NoScene), {Kind: contract.EventRetry, Delay: time.Second, ErrorName: contract.NoScene}, {Kind: contract.EventQueue}},
			leds.Condition{State: dis, Err: contract.NoScene}},
		{"leaving Disconnected clears the code",
			[]contract.Event{failed(contract.NoScene), st(dis), st(search)},
			leds.Condition{State: search}},
		{"a later failure replaces the code",
			[]contract.Event{failed(contract.NoScene), st(search), failed(contract.SessionTimeout)},
			leds.Condition{State: search, Err: contract.SessionTimeout}},
		{"media failure while Connected",
			[]contract.Event{st(conn), {Kind: contract.EventMediaFailed, ErrorName: contract.MediaStreamFailed, State: conn}},
			leds.Condition{State: conn, Err: contract.MediaStreamFailed}},
		{"media failure without a name is mediaStreamFailed",
			[]contract.Event{st(conn), {Kind: contract.EventMediaFailed, State: conn}},
			leds.Condition{State: conn, Err: contract.MediaStreamFailed}},
		{"connect failure without a name shows no code",
			[]contract.Event{st(search), failed(contract.NoError)},
			leds.Condition{State: search}},
		{"other kinds never move the state (their State may be a zero value)",
			[]contract.Event{st(conn), {Kind: contract.EventDisconnected, Reason: contract.ReasonNormal}, {Kind: contract.EventQueue, QueuePosition: 3}},
			leds.Condition{State: conn}},
		{"stopped", []contract.Event{st(conn), failed(contract.NoScene), {Kind: contract.EventStopped}},
			leds.Condition{State: dis, Stopped: true}},
		{"a state after stopped runs again",
			[]contract.Event{{Kind: contract.EventStopped}, st(search)},
			leds.Condition{State: search}},
	}
	for _, tt := range tests {
		c := leds.Condition{State: contract.Disconnected}
		for _, e := range tt.events {
			c = c.Next(e)
		}
		if c != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, c, tt.want)
		}
	}
}
