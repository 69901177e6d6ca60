package leds_test

import (
	"github.com/kioskd/kioskd/contract"

	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// TestConsole walks a session through the console backend: one line per
// change of what the LEDs show, none per flash, no in-between lines.
func TestConsole(t *testing.T) {
	out := &syncBuffer{}
	be, err := leds.Open(section(config.LEDs{Backend: "console"}), out)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(t0)
	r := startRig(t, leds.Traffic, clk, ledstest.Wrap(clk, be))
	st := func(s contract.ConnectionState, n int) {
		r.publish(contract.Event{Kind: contract.EventState, State: s}, n)
	}
	st(contract.SearchingForDigitalPerson, 2)
	st(contract.DownloadingAssets, 1)
	st(contract.ConnectingToDigitalPerson, 2)
	clk.Advance(10 * time.Second) // no software timer, no flash lines
	st(contract.Connected, 1)
	st(contract.Disconnected, 2)
	r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.NoScene}, 1)
	r.publish(contract.Event{Kind: contract.EventStopped}, 1)
	if err := r.ctl.Close(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"LEDs: red ○ amber ○ green ○", // start: all off
		"LEDs: red ● amber ○ green ○", // Disconnected
		"LEDs: red ○ amber ◐1Hz green ○",
		"LEDs: red ○ amber ◐4Hz green ○",
		"LEDs: red ○ amber ○ green ◐2Hz",
		"LEDs: red ○ amber ○ green ●",
		"LEDs: red ● amber ○ green ○",
		"LEDs: red ◐×2 amber ○ green ○", // noScene
		"LEDs: red ○ amber ○ green ○",   // stopped; Close adds nothing
	}, "\n") + "\n"
	if got := out.String(); got != want {
		t.Errorf("console output\n%s\nwant\n%s", got, want)
	}
}

func TestConsoleDirect(t *testing.T) {
	var b bytes.Buffer
	c := leds.NewConsole(&b, []string{"step1", "step2"})
	_ = c.Set("step1", true)
	_ = c.Set("step1", true) // no change, no line
	_ = c.Blink("step2", 250*time.Millisecond, 250*time.Millisecond)
	_ = c.Set("extra", true) // unknown names are appended
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set("step1", false); err == nil {
		t.Error("Set after Close: no error")
	}
	want := "LEDs: step1 ● step2 ○\nLEDs: step1 ● step2 ◐2Hz\nLEDs: step1 ● step2 ◐2Hz extra ●\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestOpenPicksBackend(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"r", "a", "g"} {
		if err := ledstest.MakeLEDClass(root, n, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		cfg  config.LEDs
		want string
	}{
		{section(config.LEDs{}), "leds.None"},
		{section(config.LEDs{Backend: "none"}), "leds.None"},
		{section(config.LEDs{Backend: "console"}), "*leds.Console"},
		{section(config.LEDs{Backend: "ledclass", LEDClassRoot: root, Lines: map[string]string{"red": "r", "amber": "a", "green": "g"}}), "*leds.LEDClass"},
	} {
		b, err := leds.Open(tt.cfg, &bytes.Buffer{})
		if err != nil {
			t.Errorf("%+v: %v", tt.cfg, err)
			continue
		}
		if got := typeName(b); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.cfg, got, tt.want)
		}
	}
	_, err := leds.Open(section(config.LEDs{Backend: "ledclass", LEDClassRoot: root, Lines: map[string]string{"red": "r", "amber": "a", "green": "nope"}}), nil)
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "green") {
		t.Errorf("unknown LED: %v", err)
	}
	if _, err := leds.Open(section(config.LEDs{Backend: "neon"}), nil); err == nil {
		t.Error("unknown backend opened")
	}
}

func typeName(v any) string {
	switch v.(type) {
	case leds.None:
		return "leds.None"
	case *leds.Console:
		return "*leds.Console"
	case *leds.LEDClass:
		return "*leds.LEDClass"
	case *leds.GPIO:
		return "*leds.GPIO"
	}
	return "?"
}

// TestNoneBackend: kiosks without LEDs cost no timer wake-ups.
func TestNoneBackend(t *testing.T) {
	clk := clocktest.New(t0)
	spy := ledstest.Wrap(clk, leds.None{})
	r := startRig(t, leds.Traffic, clk, spy)
	r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.NoUserMedia}, 1)
	r.publish(contract.Event{Kind: contract.EventState, State: contract.SearchingForDigitalPerson}, 2)
	if clk.Waiters() != 0 {
		t.Error("a timer is armed for the none backend")
	}
	for _, o := range spy.Ops() {
		if o.Err != nil && !errors.Is(o.Err, leds.ErrNotSupported) {
			t.Errorf("%v: %v", o, o.Err)
		}
	}
}
