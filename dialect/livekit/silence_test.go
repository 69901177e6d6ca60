package livekit

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

// server.livekit.dp_silence: 0s (the dialect's negative DPSilence) arms no
// watch at Connected, for a DP stack that sends nothing while it is quiet;
// the default and a configured bound arm it with that bound.
func TestDPSilenceOffArmsNoWatch(t *testing.T) {
	for _, tc := range []struct {
		cfg   time.Duration
		armed bool
		bound time.Duration
	}{
		{0, true, DefaultDPSilence},
		{12 * time.Second, true, 12 * time.Second},
		{-1, false, 0},
	} {
		c := &call{d: &Dialect{cfg: Config{DPSilence: tc.cfg, Clock: clocktest.New(time.Unix(0, 0))}}}
		c.startSilence()
		if armed := c.silenceTick() != nil; armed != tc.armed {
			t.Errorf("DPSilence %v: watch armed %v, want %v", tc.cfg, armed, tc.armed)
		}
		if tc.armed && c.dpSilence() != tc.bound {
			t.Errorf("DPSilence %v: bound %v, want %v", tc.cfg, c.dpSilence(), tc.bound)
		}
		c.stopSilence()
	}
}
