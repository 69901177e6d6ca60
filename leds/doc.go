// Package leds shows the session's connection steps on status LEDs for
// on-site staff (docs/BEHAVIOUR.md section 8). It takes the leds section of
// the configuration (config.LEDs), whose names and checks are config's.
//
// The pieces, each small enough to test alone:
//   - Profile.Patterns maps a Condition (state, error code, stopped) to a
//     Pattern per LED: Off, On, Blink(hz) or Code(n). Pure logic.
//   - Condition.Next folds session events into the Condition.
//   - Backend sets LEDs; a backend that blinks by itself also implements
//     Blinker (and CodeBlinker), so blinking survives a busy or hung daemon.
//     Backends: GPIO (periph.io), LEDClass (/sys/class/leds), Console, None;
//     fakes in package ledstest.
//   - Controller runs the patterns on a backend from a contract.Bus
//     subscription, blinking in software (one timer on an injected clock)
//     whatever the backend cannot blink itself.
//
// The table for staff, with the meaning of each pattern and the eight error
// codes, is in README.md beside this file.
package leds
