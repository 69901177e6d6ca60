package daemon

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect/livekit"
)

// server.livekit.dp_silence reaches the livekit dialect: its default is
// the dialect's own, 0s turns the watch off, a bound passes as it is.
func TestDPSilenceFromConfig(t *testing.T) {
	if config.DefaultDPSilence != livekit.DefaultDPSilence {
		t.Fatalf("server.livekit.dp_silence defaults to %v, the dialect to %v", config.DefaultDPSilence, livekit.DefaultDPSilence)
	}
	if d := dpSilence(0); d >= 0 {
		t.Fatalf("dp_silence 0s gives the dialect %v: a watch, not off", d)
	}
	if d := dpSilence(12 * time.Second); d != 12*time.Second {
		t.Fatalf("dp_silence 12s gives the dialect %v", d)
	}
}
