package leds

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"
)

// GPIOLine is one line of a GPIO chip, for `kioskd devices`.
type GPIOLine struct {
	Chip     string // gpiochip0
	Label    string // the chip's label, e.g. pinctrl-bcm2711
	Offset   int    // the line's offset on its chip
	Name     string // the name the kernel gives the line ("" if none)
	Consumer string // who holds the line now ("" if free)
	// Config is what to write in leds.lines to use this line; "" when the
	// line has no usable name (kioskd looks lines up by name only, because
	// offsets move between boards and kernel versions).
	Config string
}

// ListGPIOLines lists the lines of every GPIO chip (character devices
// /dev/gpiochip*). A machine without GPIO chips gives an empty list.
func ListGPIOLines() ([]GPIOLine, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("leds: gpio: %w", err)
	}
	var out []GPIOLine
	for _, c := range gpioioctl.Chips {
		for _, l := range c.Lines() {
			g := GPIOLine{
				Chip:     c.Name(),
				Label:    c.Label(),
				Offset:   l.Number(),
				Name:     l.Name(),
				Consumer: l.Consumer(),
			}
			// gpioioctl renames a line whose name another chip already
			// took to "<chip>-<name>"; only what gpioreg finds works in
			// the config.
			if g.Name != "" && gpioreg.ByName(g.Name) != nil {
				g.Config = g.Name
			}
			out = append(out, g)
		}
	}
	return out, nil
}

// LEDClassLED is one LED of the kernel's LED class, for `kioskd devices`.
type LEDClassLED struct {
	Name          string   // directory name under the root; what leds.lines takes
	MaxBrightness int      // the value written for "on"
	Triggers      []string // available triggers; "timer" means hardware-timed blinking
	Trigger       string   // the trigger active now
}

// ListLEDClass lists the LEDs under root (leds.ledclass_root), sorted by
// name. A missing root gives an empty list; an entry that is not an LED is
// skipped.
func ListLEDClass(root string) ([]LEDClassLED, error) {
	if root == "" {
		return nil, errors.New("leds: ledclass: no root (leds.ledclass_root)")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("leds: ledclass: %w", err)
	}
	var out []LEDClassLED
	for _, e := range entries {
		// sysfs entries are symlinks into /sys/devices; readLEDClass follows them.
		l, err := readLEDClass(root, e.Name())
		if err != nil {
			continue
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readLEDClass reads one LED's max_brightness and trigger list.
func readLEDClass(root, name string) (LEDClassLED, error) {
	dir := filepath.Join(root, name)
	l := LEDClassLED{Name: name}
	b, err := os.ReadFile(filepath.Join(dir, "max_brightness"))
	if err != nil {
		return l, err
	}
	l.MaxBrightness, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || l.MaxBrightness <= 0 {
		return l, fmt.Errorf("max_brightness %q is not a positive number", strings.TrimSpace(string(b)))
	}
	// trigger reads like "none timer [heartbeat] default-on": the bracketed
	// one is active. An LED without the file has no triggers at all.
	b, err = os.ReadFile(filepath.Join(dir, "trigger"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return l, err
	}
	l.Triggers, l.Trigger = parseTriggers(string(b))
	return l, nil
}

func parseTriggers(s string) (all []string, active string) {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			f = strings.Trim(f, "[]")
			active = f
		}
		all = append(all, f)
	}
	return all, active
}
