package leds

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LEDClass drives LEDs of the kernel's LED class (/sys/class/leds/<name>/).
//
// Steady on/off writes trigger "none" first (a trigger left running would
// overwrite our brightness) and then brightness: max_brightness or 0.
// Blinking is delegated to the kernel's "timer" trigger where the LED lists
// it: the kernel keeps the LED blinking even while kioskd is stalled, and
// kioskd wakes up for nothing.
//
// Error codes are not delegated. The "timer" trigger has a single on/off
// pair and cannot pause between groups. The "pattern" trigger could, but it
// is a module that distribution kernels often leave out, its zero-length-step
// syntax for hard edges differs between kernel versions, and a code is only
// shown while the supervisor waits to retry, a few seconds at a time, so
// software timing is both good enough and the same on every kiosk. The
// controller therefore drives codes through Set (BlinkCode is not
// implemented).
type LEDClass struct {
	root string
	leds map[string]*classLED
}

type classLED struct {
	name     string // the LED's directory name under root
	dir      string
	max      int
	triggers []string
	// steady is true once trigger "none" has been written and no Blink
	// since; it saves a sysfs write per flash of a software blink.
	steady bool
}

var (
	_ Backend = (*LEDClass)(nil)
	_ Blinker = (*LEDClass)(nil)
)

// OpenLEDClass opens the LEDs leds (name for the controller → LED directory
// name under root, e.g. "red" → "kiosk:red:status"). It reads max_brightness
// and the available triggers, and checks brightness is writable, so a
// missing LED or a permission problem fails here and names the LED.
func OpenLEDClass(root string, leds map[string]string) (*LEDClass, error) {
	if root == "" {
		return nil, errors.New("leds: ledclass: no root (leds.ledclass_root)")
	}
	b := &LEDClass{root: root, leds: make(map[string]*classLED, len(leds))}
	for _, name := range sortedKeys(leds) {
		dev := leds[name]
		if dev == "" || dev == "." || dev == ".." || strings.ContainsRune(dev, '/') {
			return nil, fmt.Errorf("leds: ledclass: %s: %q is not an LED name (a directory name under %s)", name, dev, root)
		}
		l := &classLED{name: dev, dir: filepath.Join(root, dev)}
		info, err := readLEDClass(root, dev)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("leds: ledclass: %s: LED %q not found under %s (see `kioskd devices`)", name, dev, root)
			}
			return nil, fmt.Errorf("leds: ledclass: %s: LED %q: %w", name, dev, err)
		}
		l.max, l.triggers = info.MaxBrightness, info.Triggers
		// An LED already on trigger none (or with no triggers at all) needs
		// no trigger write before its first steady Set.
		l.steady = info.Trigger == "none" || len(info.Triggers) == 0
		f, err := os.OpenFile(filepath.Join(l.dir, "brightness"), os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("leds: ledclass: %s: LED %q is not writable (kioskd needs write access to %s): %w", name, dev, filepath.Join(l.dir, "brightness"), err)
		}
		f.Close()
		b.leds[name] = l
	}
	return b, nil
}

func (b *LEDClass) led(name string) (*classLED, error) {
	l, ok := b.leds[name]
	if !ok {
		return nil, fmt.Errorf("leds: ledclass: no LED %q was opened", name)
	}
	return l, nil
}

// Set writes trigger none (once, after a blink) and then the brightness.
func (b *LEDClass) Set(name string, on bool) error {
	l, err := b.led(name)
	if err != nil {
		return err
	}
	if !l.steady {
		if err := l.write("trigger", "none"); err != nil {
			return err
		}
		l.steady = true
	}
	v := 0
	if on {
		v = l.max
	}
	return l.write("brightness", strconv.Itoa(v))
}

// Blink hands the blinking to the kernel's timer trigger. An LED without it
// gives ErrNotSupported, and the controller blinks it in software.
func (b *LEDClass) Blink(name string, on, off time.Duration) error {
	l, err := b.led(name)
	if err != nil {
		return err
	}
	if !l.has("timer") {
		return fmt.Errorf("leds: ledclass: %s: LED %q has no timer trigger: %w", name, l.name, ErrNotSupported)
	}
	// Writing the trigger creates delay_on and delay_off (at 500 ms each);
	// only then can they be set.
	l.steady = false
	if err := l.write("trigger", "timer"); err != nil {
		return err
	}
	if err := l.write("delay_on", ms(on)); err != nil {
		return err
	}
	return l.write("delay_off", ms(off))
}

// Close holds nothing open: every write opens and closes its file, so a
// sysfs attribute that vanishes (an unplugged USB LED) cannot leave a stale
// descriptor behind.
func (b *LEDClass) Close() error { return nil }

func (l *classLED) has(trigger string) bool { return slices.Contains(l.triggers, trigger) }

// write stores v in attribute attr. It never creates a file: in sysfs a
// missing attribute is an error, and tests' fake folders behave the same.
func (l *classLED) write(attr, v string) error {
	p := filepath.Join(l.dir, attr)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("leds: ledclass: %w", err)
	}
	_, err = f.WriteString(v + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("leds: ledclass: write %s to %s: %w", v, p, err)
	}
	return nil
}

// ms rounds d to whole milliseconds, at least 1: delay_on 0 would mean
// "always off" to the timer trigger.
func ms(d time.Duration) string {
	m := d.Round(time.Millisecond).Milliseconds()
	if m < 1 {
		m = 1
	}
	return strconv.FormatInt(m, 10)
}
