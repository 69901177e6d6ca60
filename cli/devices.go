package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/media"
)

// cmdDevices lists what the machine has, each with the exact string to
// put in the config.
func cmdDevices(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("devices", stderr)
	ledRoot := fs.String("ledclass-root", config.Default().LEDs.LEDClassRoot, "where LED-class LEDs are listed")
	asJSON := fs.Bool("json", false, "print one JSON object: cameras, microphones, speakers, sound cards, LED backends")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := media.ListDevices(ctx, media.ListOptions{})
	if err != nil {
		fmt.Fprintln(stderr, "kioskd devices:", err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(devicesJSON{Listing: d.Listing(), LEDBackends: ledBackends(*ledRoot)}); err != nil {
			return exitFail
		}
		return exitOK
	}
	if err := d.WriteText(stdout); err != nil {
		return exitFail
	}

	fmt.Fprintln(stdout, "\nGPIO lines (leds.backend: gpio; leds.lines: {red: NAME, …}):")
	lines, err := leds.ListGPIOLines()
	switch {
	case err != nil:
		fmt.Fprintf(stdout, "  cannot list: %v\n", err)
	case len(lines) == 0:
		fmt.Fprintln(stdout, "  none (no /dev/gpiochip*)")
	}
	for _, l := range lines {
		name := l.Name
		if name == "" {
			name = "(unnamed)"
		}
		fmt.Fprintf(stdout, "  %-10s line %-3d %-20s config: %s\n", l.Chip, l.Offset, name, l.Config)
	}

	fmt.Fprintf(stdout, "\nLED-class LEDs under %s (leds.backend: ledclass):\n", *ledRoot)
	ls, err := leds.ListLEDClass(*ledRoot)
	switch {
	case err != nil:
		fmt.Fprintf(stdout, "  cannot list: %v\n", err)
	case len(ls) == 0:
		fmt.Fprintln(stdout, "  none")
	}
	for _, l := range ls {
		fmt.Fprintf(stdout, "  %-24s max %-4d triggers: %v  config: %s\n", l.Name, l.MaxBrightness, l.Triggers, l.Name)
	}
	return exitOK
}

// devicesJSON is `kioskd devices --json`: media's listing and the LED
// backends, in one object.
type devicesJSON struct {
	media.Listing
	LEDBackends []ledBackendJSON `json:"led_backends"`
}

// ledBackendJSON is one value of leds.backend and what it would drive
// here; lines and leds are absent when there are none.
type ledBackendJSON struct {
	Backend string `json:"backend"` // the value of leds.backend
	// Available: the backend can be used on this machine (gpio: a GPIO
	// line was found; ledclass: LEDs under Root).
	Available bool           `json:"available"`
	Error     string         `json:"error,omitempty"`
	Root      string         `json:"root,omitempty"`  // ledclass
	Lines     []gpioLineJSON `json:"lines,omitempty"` // gpio
	LEDs      []ledClassJSON `json:"leds,omitempty"`  // ledclass
}

// gpioLineJSON is leds.GPIOLine; Config is the value for leds.lines ("" if
// the line has no usable name).
type gpioLineJSON struct {
	Chip     string `json:"chip"`
	Label    string `json:"label"`
	Offset   int    `json:"offset"`
	Name     string `json:"name"`
	Consumer string `json:"consumer"`
	Config   string `json:"config"`
}

// ledClassJSON is leds.LEDClassLED; Config is the value for leds.lines.
type ledClassJSON struct {
	Name          string   `json:"name"`
	MaxBrightness int      `json:"max_brightness"`
	Triggers      []string `json:"triggers"`
	Trigger       string   `json:"trigger"`
	Config        string   `json:"config"`
}

func ledBackends(root string) []ledBackendJSON {
	gpio := ledBackendJSON{Backend: config.BackendGPIO}
	lines, err := leds.ListGPIOLines()
	if err != nil {
		gpio.Error = err.Error()
	}
	for _, l := range lines {
		gpio.Lines = append(gpio.Lines, gpioLineJSON{Chip: l.Chip, Label: l.Label, Offset: l.Offset, Name: l.Name, Consumer: l.Consumer, Config: l.Config})
	}
	gpio.Available = len(lines) > 0
	class := ledBackendJSON{Backend: config.BackendLEDClass, Root: root}
	ls, err := leds.ListLEDClass(root)
	if err != nil {
		class.Error = err.Error()
	}
	for _, l := range ls {
		class.LEDs = append(class.LEDs, ledClassJSON{Name: l.Name, MaxBrightness: l.MaxBrightness, Triggers: l.Triggers, Trigger: l.Trigger, Config: l.Name})
	}
	class.Available = len(ls) > 0
	return []ledBackendJSON{
		gpio, class,
		{Backend: config.BackendConsole, Available: true},
		{Backend: config.BackendNone, Available: true},
	}
}
