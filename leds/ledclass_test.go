package leds_test

import (
	"github.com/kioskd/kioskd/contract"

	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// attrs reads attributes of fake LEDs: "red/brightness" -> its content.
func attrs(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		name, attr, _ := strings.Cut(k, "/")
		got, err := ledstest.ReadAttr(root, name, attr)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		if got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
}

// TestLEDClassTraffic runs the controller on the ledclass backend in a temp
// folder: red and green have the timer trigger (red starts on heartbeat,
// like a Pi's ACT LED), amber has none and must be blinked in software.
func TestLEDClassTraffic(t *testing.T) {
	root := t.TempDir()
	for _, l := range []struct {
		name     string
		max      int
		triggers []string
	}{
		{"kiosk:red", 255, []string{"timer", "[heartbeat]"}},
		{"kiosk:amber", 1, nil},
		{"kiosk:green", 255, []string{"timer", "default-on"}},
	} {
		if err := ledstest.MakeLEDClass(root, l.name, l.max, l.triggers...); err != nil {
			t.Fatal(err)
		}
	}
	be, err := leds.Open(section(config.LEDs{
		Backend: "ledclass", Profile: "traffic", LEDClassRoot: root,
		Lines: map[string]string{"red": "kiosk:red", "amber": "kiosk:amber", "green": "kiosk:green"},
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(t0)
	spy := ledstest.Wrap(clk, be)
	r := startRig(t, leds.Traffic, clk, spy)

	// Known state: red steady on, its heartbeat trigger replaced by none.
	attrs(t, root, map[string]string{
		"kiosk:red/trigger": "none", "kiosk:red/brightness": "255",
		"kiosk:amber/brightness": "0", "kiosk:green/brightness": "0",
	})

	// Searching: amber has no timer trigger, so software blinks it 1 Hz.
	r.publish(contract.Event{Kind: contract.EventState, State: contract.SearchingForDigitalPerson}, 3) // red off, amber blink refused, amber on
	r.clk.BlockUntil(1)
	attrs(t, root, map[string]string{"kiosk:red/brightness": "0", "kiosk:amber/brightness": "1"})
	for _, want := range []string{"1", "0", "0", "1"} { // at 250, 500, 750, 1000 ms
		r.step(250*ms, 250*ms)
		attrs(t, root, map[string]string{"kiosk:amber/brightness": want, "kiosk:amber/trigger": "[none]"})
	}

	// DownloadingAssets: amber 4 Hz in software.
	r.publish(contract.Event{Kind: contract.EventState, State: contract.DownloadingAssets}, 2)
	r.clk.BlockUntil(1)
	attrs(t, root, map[string]string{"kiosk:amber/brightness": "1"})
	r.step(125*ms, 125*ms)
	attrs(t, root, map[string]string{"kiosk:amber/brightness": "0"})

	// ConnectingToDigitalPerson: green blinks by the kernel's timer at 2 Hz;
	// no software timer remains.
	r.publish(contract.Event{Kind: contract.EventState, State: contract.ConnectingToDigitalPerson}, 2)
	attrs(t, root, map[string]string{
		"kiosk:amber/brightness": "0",
		"kiosk:green/trigger":    "timer", "kiosk:green/delay_on": "250", "kiosk:green/delay_off": "250",
	})
	if clk.Waiters() != 0 {
		t.Error("software timer armed for a kernel-timed blink")
	}

	// Connected: green steady, trigger none again.
	r.publish(contract.Event{Kind: contract.EventState, State: contract.Connected}, 1)
	attrs(t, root, map[string]string{"kiosk:green/trigger": "none", "kiosk:green/brightness": "255"})

	// A failure: red flashes noScene (2) in software even though it has
	// a timer trigger (timer cannot pause between groups).
	r.publish(contract.Event{Kind: contract.EventState, State: contract.Disconnected}, 2)
	r.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: contract.NoScene}, 1)
	r.clk.BlockUntil(1)
	var seen []string
	for range 8 { // 2 s: one cycle of code 2
		b, _ := ledstest.ReadAttr(root, "kiosk:red", "brightness")
		seen = append(seen, b)
		r.step(250*ms, 250*ms)
	}
	if got := strings.Join(seen, " "); got != "255 0 255 0 0 0 0 0" {
		t.Errorf("red brightness every 250 ms: %s", got)
	}
	attrs(t, root, map[string]string{"kiosk:red/trigger": "none", "kiosk:green/brightness": "0"})

	if err := r.ctl.Close(); err != nil {
		t.Fatal(err)
	}
	attrs(t, root, map[string]string{
		"kiosk:red/brightness": "0", "kiosk:amber/brightness": "0", "kiosk:green/brightness": "0",
		"kiosk:red/trigger": "none", "kiosk:green/trigger": "none",
	})
}

// TestLEDClassDelegatedAmber: with a timer trigger, amber's blinks are the
// kernel's, at 1 Hz and then 4 Hz, and Close stops them.
func TestLEDClassDelegatedAmber(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"r", "a", "g"} {
		if err := ledstest.MakeLEDClass(root, n, 255, "timer"); err != nil {
			t.Fatal(err)
		}
	}
	be, err := leds.OpenLEDClass(root, map[string]string{"red": "r", "amber": "a", "green": "g"})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktest.New(t0)
	r := startRig(t, leds.Traffic, clk, ledstest.Wrap(clk, be))
	r.publish(contract.Event{Kind: contract.EventState, State: contract.SearchingForDigitalPerson}, 2)
	attrs(t, root, map[string]string{"a/trigger": "timer", "a/delay_on": "500", "a/delay_off": "500", "r/brightness": "0"})
	r.publish(contract.Event{Kind: contract.EventState, State: contract.DownloadingAssets}, 1)
	attrs(t, root, map[string]string{"a/trigger": "timer", "a/delay_on": "125", "a/delay_off": "125"})
	if clk.Waiters() != 0 {
		t.Error("software timer armed")
	}
	if err := r.ctl.Close(); err != nil {
		t.Fatal(err)
	}
	attrs(t, root, map[string]string{"a/trigger": "none", "a/brightness": "0"})
}

func TestLEDClassDirect(t *testing.T) {
	root := t.TempDir()
	if err := ledstest.MakeLEDClass(root, "t", 7, "timer"); err != nil {
		t.Fatal(err)
	}
	if err := ledstest.MakeLEDClass(root, "plain", 1); err != nil {
		t.Fatal(err)
	}
	b, err := leds.OpenLEDClass(root, map[string]string{"x": "t", "y": "plain"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Set("x", true); err != nil {
		t.Fatal(err)
	}
	attrs(t, root, map[string]string{"t/brightness": "7"})
	// Milliseconds are rounded, and never 0 (0 means "never lit" to the kernel).
	if err := b.Blink("x", 333333*time.Microsecond, 100*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	attrs(t, root, map[string]string{"t/trigger": "timer", "t/delay_on": "333", "t/delay_off": "1"})
	// Steady after a blink writes trigger none before the brightness.
	if err := b.Set("x", false); err != nil {
		t.Fatal(err)
	}
	attrs(t, root, map[string]string{"t/trigger": "none", "t/brightness": "0"})
	if err := b.Blink("y", time.Second, time.Second); !errors.Is(err, leds.ErrNotSupported) {
		t.Errorf("Blink without timer trigger: %v, want ErrNotSupported", err)
	}
	if err := b.Set("nope", true); err == nil {
		t.Error("Set of an LED never opened: no error")
	}
}

func TestLEDClassOpenErrors(t *testing.T) {
	root := t.TempDir()
	if err := ledstest.MakeLEDClass(root, "ok", 255); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "broken", "max_brightness"), []byte("lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dev  string
		want []string
	}{
		{"missing", []string{"red", `"missing"`, "not found", root}},
		{"../ok", []string{"red", "not an LED name"}},
		{"", []string{"red", "not an LED name"}},
		{"broken", []string{"red", `"broken"`, "max_brightness"}},
	} {
		_, err := leds.OpenLEDClass(root, map[string]string{"red": tt.dev})
		if err == nil {
			t.Errorf("%q: no error", tt.dev)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %q", tt.dev, err, w)
			}
		}
	}
	if os.Geteuid() != 0 { // root writes anyway
		if err := os.Chmod(filepath.Join(root, "ok", "brightness"), 0o444); err != nil {
			t.Fatal(err)
		}
		if _, err := leds.OpenLEDClass(root, map[string]string{"red": "ok"}); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("read-only brightness: %v", err)
		}
	}
}

func TestListLEDClass(t *testing.T) {
	if got, err := leds.ListLEDClass(filepath.Join(t.TempDir(), "none-here")); err != nil || len(got) != 0 {
		t.Errorf("missing root: %v, %v; want empty, nil", got, err)
	}
	root := t.TempDir()
	devs := t.TempDir() // sysfs lists LEDs as symlinks into /sys/devices
	if err := ledstest.MakeLEDClass(devs, "led0", 1, "timer", "[mmc0]"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(devs, "led0"), filepath.Join(root, "led0")); err != nil {
		t.Fatal(err)
	}
	if err := ledstest.MakeLEDClass(root, "kiosk:green", 255); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "README"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := leds.ListLEDClass(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []leds.LEDClassLED{
		{Name: "kiosk:green", MaxBrightness: 255, Triggers: []string{"none"}, Trigger: "none"},
		{Name: "led0", MaxBrightness: 1, Triggers: []string{"none", "timer", "mmc0"}, Trigger: "mmc0"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.MaxBrightness != w.MaxBrightness || g.Trigger != w.Trigger || strings.Join(g.Triggers, " ") != strings.Join(w.Triggers, " ") {
			t.Errorf("got %+v, want %+v", g, w)
		}
	}
}
