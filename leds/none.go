package leds

import "time"

// None is the backend for kiosks without LEDs. It claims to blink by itself
// so the controller arms no timer and wakes no CPU for LEDs nobody sees.
type None struct{}

var (
	_ Backend     = None{}
	_ Blinker     = None{}
	_ CodeBlinker = None{}
)

func (None) Set(string, bool) error                                                   { return nil }
func (None) Blink(string, time.Duration, time.Duration) error                         { return nil }
func (None) BlinkCode(string, int, time.Duration, time.Duration, time.Duration) error { return nil }
func (None) Close() error                                                             { return nil }
