package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/leds"
)

// cmdLEDsOff turns the configured status LEDs off and exits. kioskd turns
// them off itself on every way out it lives through; this is for the ways
// it does not (SIGKILL, the watchdog's SIGABRT, a crash), which would
// leave them showing a state the kiosk is no longer in: the unit runs it
// as ExecStopPost=, after the process is gone, whatever ended it.
func cmdLEDsOff(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("leds-off", stderr)
	path := fs.String("config", config.DefaultPath, "config file")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	backend, err := leds.Open(cfg.LEDs, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd leds-off:", err)
		return exitFail
	}
	ctl, err := leds.New(cfg.LEDs, backend, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		backend.Close()
		fmt.Fprintln(stderr, "kioskd leds-off:", err)
		return exitFail
	}
	if err := ctl.Close(); err != nil {
		fmt.Fprintln(stderr, "kioskd leds-off:", err)
		return exitFail
	}
	return exitOK
}
