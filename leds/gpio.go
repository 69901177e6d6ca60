package leds

import (
	"fmt"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// GPIO drives LEDs wired to GPIO lines, through periph.io and the kernel's
// GPIO character device (/dev/gpiochipN). It cannot blink by itself: the
// controller blinks its LEDs in software.
//
// Close leaves the lines requested. Releasing a line lets the kernel
// reconfigure it (many SoCs fall back to input, where a pulled-up
// active-low LED lights), so the "off" written last stays put for as long as
// the process lives. After exit the line is whatever the board's default
// is; wire LEDs so that default is dark if they must be off while kioskd
// is not running.
type GPIO struct {
	pins      map[string]gpio.PinOut
	activeLow bool
}

var _ Backend = (*GPIO)(nil)

// OpenGPIO loads periph's host drivers and looks every line up by name
// (lines maps the controller's names, e.g. "red", to line names such as
// "GPIO17"). A line that does not exist is an error naming it. With
// activeLow, a low level lights the LED.
func OpenGPIO(lines map[string]string, activeLow bool) (*GPIO, error) {
	// host.Init registers the GPIO character-device lines in gpioreg. It
	// is called here and not in an init function, so that merely linking
	// kioskd touches no device and a machine without GPIO still starts.
	state, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("leds: gpio: loading periph host drivers: %w", err)
	}
	b := &GPIO{pins: make(map[string]gpio.PinOut, len(lines)), activeLow: activeLow}
	for _, name := range sortedKeys(lines) {
		line := lines[name]
		p := gpioreg.ByName(line)
		if p == nil {
			hint := "run `kioskd devices` to list the lines"
			if !gpioLoaded(state) {
				hint = "no GPIO chip found: is /dev/gpiochip* present and readable by kioskd?"
			}
			return nil, fmt.Errorf("leds: gpio: %s: GPIO line %q not found (%s)", name, line, hint)
		}
		b.pins[name] = p
	}
	return b, nil
}

// gpioLoaded tells whether the character-device driver found a chip, for a
// better error message.
func gpioLoaded(s *driverreg.State) bool {
	if s == nil {
		return false
	}
	for _, d := range s.Loaded {
		if d.String() == "ioctl-gpio" {
			return true
		}
	}
	return false
}

// Set drives the line: high for on, or low for on with activeLow.
func (b *GPIO) Set(name string, on bool) error {
	p, ok := b.pins[name]
	if !ok {
		return fmt.Errorf("leds: gpio: no line was opened for %q", name)
	}
	if err := p.Out(gpio.Level(on != b.activeLow)); err != nil {
		return fmt.Errorf("leds: gpio: %s (%s): %w", name, p, err)
	}
	return nil
}

// Close releases nothing on purpose; see the type's comment.
func (b *GPIO) Close() error { return nil }
