package cli

import (
	"context"
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
