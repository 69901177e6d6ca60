// Package timerslack widens the kernel's timer slack for the whole process,
// before the Go runtime starts: imported (blank) by the kioskd binaries.
//
// Why: while any P is busy, the runtime's sysmon thread wakes every 20 µs
// (golang/go#18236). A kiosk call keeps a P busy in hundreds of short
// bursts a second (a packet in, a packet out, an Opus frame), and each
// 20 µs nanosleep is a context switch: with the kernel's default slack of
// 50 µs that was ~650 wake-ups a second, some 15 % of kioskd's CPU in a
// call. With a slack of SlackNS a nanosleep(20 µs) may last up to about a
// millisecond, so sysmon polls a few times per burst instead of dozens.
//
// Nothing in kioskd needs finer timers: the Go netpoller sleeps in whole
// milliseconds anyway, media is paced by the devices (interrupts, not
// timeouts), and real-time threads (miniaudio's) ignore the slack. The
// slack only lets the kernel fire a timer up to SlackNS late, to batch
// wake-ups. Threads inherit it from their creator, so it is set in a C
// constructor, before the runtime creates sysmon.
//
// KIOSKD_TIMERSLACK_NS (0 to 10 ms) overrides the value; 0 leaves the
// kernel's default alone.
package timerslack

// #include "timerslack.h"
import "C"

import "time"

// SlackNS is the slack set when KIOSKD_TIMERSLACK_NS does not say otherwise.
const SlackNS = 1_000_000

// Applied returns the slack set at start, or 0 if the default was kept.
func Applied() time.Duration {
	if ns := C.kioskd_timerslack(); ns > 0 {
		return time.Duration(ns)
	}
	return 0
}
