package leds_test

import (
	"github.com/kioskd/kioskd/contract"

	"fmt"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// fakePins registers periph fake pins under test-only names, as gpioioctl
// registers a board's lines, and removes them when the test ends. Each pin
// starts at the level an unlit LED would not have, so the known state at
// start is visible.
func fakePins(t *testing.T, prefix string, start gpio.Level) (map[string]*gpiotest.Pin, map[string]string) {
	t.Helper()
	pins := map[string]*gpiotest.Pin{}
	lines := map[string]string{}
	for i, role := range leds.Traffic.Roles() {
		name := fmt.Sprintf("KIOSKD_TEST_%s_%s", prefix, strings.ToUpper(role))
		p := &gpiotest.Pin{N: name, Num: 900 + i, L: start}
		if err := gpioreg.Register(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gpioreg.Unregister(name) })
		pins[role], lines[role] = p, name
	}
	return pins, lines
}

func levels(pins map[string]*gpiotest.Pin) string {
	var s []string
	for _, r := range leds.Traffic.Roles() {
		s = append(s, r+"="+pins[r].Read().String())
	}
	return strings.Join(s, " ")
}

func TestGPIO(t *testing.T) {
	for _, tt := range []struct {
		activeLow bool
		lit, dark string
	}{
		{false, "High", "Low"},
		{true, "Low", "High"},
	} {
		t.Run(fmt.Sprintf("activeLow=%v", tt.activeLow), func(t *testing.T) {
			start := gpio.High
			if tt.activeLow {
				start = gpio.Low
			}
			pins, lines := fakePins(t, fmt.Sprint(tt.activeLow), start) // every LED lit, as a boot loader may leave them
			be, err := leds.Open(section(config.LEDs{Backend: "gpio", Profile: "traffic", Lines: lines, ActiveLow: tt.activeLow}), nil)
			if err != nil {
				t.Fatal(err)
			}
			clk := clocktest.New(t0)
			r := startRig(t, leds.Traffic, clk, ledstest.Wrap(clk, be))
			want := func(red, amber, green string) {
				t.Helper()
				w := "red=" + red + " amber=" + amber + " green=" + green
				if got := levels(pins); got != w {
					t.Errorf("pins %s, want %s", got, w)
				}
			}
			lit, dark := tt.lit, tt.dark
			want(lit, dark, dark) // Disconnected

			// GPIO cannot blink by itself: software toggles amber at 1 Hz.
			r.publish(contract.Event{Kind: contract.EventState, State: contract.SearchingForDigitalPerson}, 3)
			r.clk.BlockUntil(1)
			want(dark, lit, dark)
			r.step(500*ms, 250*ms)
			want(dark, dark, dark)
			r.step(500*ms, 250*ms)
			want(dark, lit, dark)

			r.publish(contract.Event{Kind: contract.EventState, State: contract.Connected}, 2)
			want(dark, dark, lit)

			if err := r.ctl.Close(); err != nil {
				t.Fatal(err)
			}
			want(dark, dark, dark)
		})
	}
}

func TestGPIOUnknownLine(t *testing.T) {
	_, lines := fakePins(t, "unknown", gpio.Low)
	lines["amber"] = "GPIO_DOES_NOT_EXIST_42"
	_, err := leds.Open(section(config.LEDs{Backend: "gpio", Lines: lines}), nil)
	if err == nil {
		t.Fatal("no error for an unknown line")
	}
	for _, w := range []string{"amber", `"GPIO_DOES_NOT_EXIST_42"`, "not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %s", err, w)
		}
	}
}

func TestListGPIOLines(t *testing.T) {
	// This machine may have no GPIO chip at all: that is an empty list,
	// not an error. Where there are chips, every line has a chip and
	// every usable name is what the config takes.
	lines, err := leds.ListGPIOLines()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		if l.Chip == "" {
			t.Errorf("line without chip: %+v", l)
		}
		if l.Config != "" && gpioreg.ByName(l.Config) == nil {
			t.Errorf("config string %q does not resolve", l.Config)
		}
	}
}
