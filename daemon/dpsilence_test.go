package daemon

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect/livekit"
)

// server.livekit.dp_silence reaches the livekit dialect: 0s turns the
// watch off, a bound (the default among them) passes as it is.
func TestDPSilenceFromConfig(t *testing.T) {
	if d := dpSilence(0); d >= 0 {
		t.Fatalf("dp_silence 0s gives the dialect %v: a watch, not off", d)
	}
	if d := dpSilence(config.DefaultDPSilence); d != livekit.DefaultDPSilence {
		t.Fatalf("the default dp_silence gives the dialect %v, want its default %v", d, livekit.DefaultDPSilence)
	}
	if d := dpSilence(12 * time.Second); d != 12*time.Second {
		t.Fatalf("dp_silence 12s gives the dialect %v", d)
	}
}
