package leds

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Console prints the LEDs as one compact line per change, for the demo and
// for kiosks being set up without their LEDs wired:
//
//	LEDs: red ○ amber ◐1Hz green ○
//
// ○ is off, ● on, ◐<f>Hz blinking, ◐×<n> an error code of n flashes,
// ◐×<n>(long) one of n long flashes (leds.CodeLong).
// It blinks "by itself" (it prints the pattern, not each flash), so a 4 Hz
// blink is one line, not eight a second.
type Console struct {
	mu     sync.Mutex
	w      io.Writer
	names  []string
	shown  map[string]string
	last   string
	batch  bool
	closed bool
}

var (
	_ Backend     = (*Console)(nil)
	_ Blinker     = (*Console)(nil)
	_ CodeBlinker = (*Console)(nil)
	_ Batcher     = (*Console)(nil)
)

// NewConsole returns a console backend printing names in this order to w.
// Names outside the list are appended at the end when first used.
func NewConsole(w io.Writer, names []string) *Console {
	c := &Console{w: w, names: append([]string(nil), names...), shown: map[string]string{}}
	for _, n := range names {
		c.shown[n] = "○"
	}
	return c
}

func (c *Console) Set(name string, on bool) error {
	if on {
		return c.show(name, "●")
	}
	return c.show(name, "○")
}

func (c *Console) Blink(name string, on, off time.Duration) error {
	period := on + off
	if period <= 0 {
		return c.show(name, "◐")
	}
	hz := float64(time.Second) / float64(period)
	return c.show(name, "◐"+strconv.FormatFloat(hz, 'g', 3, 64)+"Hz")
}

func (c *Console) BlinkCode(name string, n int, on, _, _ time.Duration) error {
	if on > CodeOn {
		return c.show(name, "◐×"+strconv.Itoa(n)+"(long)")
	}
	return c.show(name, "◐×"+strconv.Itoa(n))
}

// Begin holds the line back until End, so one change of condition that
// moves several LEDs prints one line, not a passing in-between look.
func (c *Console) Begin() {
	c.mu.Lock()
	c.batch = true
	c.mu.Unlock()
}

// End prints the line if it changed since the last one printed.
func (c *Console) End() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batch = false
	return c.printLocked()
}

// Close stops printing; it prints nothing itself.
func (c *Console) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

func (c *Console) show(name, sym string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("leds: console: closed")
	}
	if _, ok := c.shown[name]; !ok {
		c.names = append(c.names, name)
	}
	c.shown[name] = sym
	if c.batch {
		return nil
	}
	return c.printLocked()
}

func (c *Console) printLocked() error {
	if c.closed {
		return nil
	}
	var b strings.Builder
	b.WriteString("LEDs:")
	for _, n := range c.names {
		b.WriteString(" " + n + " " + c.shown[n])
	}
	line := b.String()
	if line == c.last {
		return nil // one line per change, not per call
	}
	c.last = line
	_, err := io.WriteString(c.w, line+"\n")
	return err
}
