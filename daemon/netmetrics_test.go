package daemon

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/rtc"
	"github.com/kioskd/kioskd/session"
)

// TestCurrentNetwork: the status shows the last call's figures while a
// call hands them (every half second), nothing before or once it stopped.
func TestCurrentNetwork(t *testing.T) {
	now := time.Now()
	var n session.NetworkStats
	stats := func() session.NetworkStats { return n }
	if got := currentNetwork(stats, now); got != nil {
		t.Fatalf("before any call: %+v", got)
	}
	n = session.NetworkStats{SendRate: rtc.SendRate{Estimate: 120_000, VideoBitrate: 57_600, MaxFPS: 5, RTT: 20 * time.Millisecond, Loss: 0.03}, At: now.Add(-time.Second)}
	got := currentNetwork(stats, now)
	if got == nil || got.EstimateBPS != 120_000 || got.VideoBPS != 57_600 || got.MaxFPS != 5 || got.RTTSeconds != 0.02 || got.Loss != 0.03 {
		t.Fatalf("during a call: %+v", got)
	}
	if got := currentNetwork(stats, now.Add(networkStale)); got != nil {
		t.Fatalf("after the call: %+v", got)
	}
}
