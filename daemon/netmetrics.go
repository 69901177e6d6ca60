package daemon

import (
	"context"
	"time"

	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/status"
)

// networkStale is how old the session's last send rate may be and still be
// the current call's: calls hand it every half second while they send.
const networkStale = 3 * time.Second

// currentNetwork is the status's Network figures from the session's last
// send rate, or nil when no call sends now.
func currentNetwork(stats func() session.NetworkStats, now time.Time) *status.Network {
	n := stats()
	if n.At.IsZero() || now.Sub(n.At) > networkStale {
		return nil
	}
	return &status.Network{
		EstimateBPS: n.Estimate, VideoBPS: n.VideoBitrate, MaxFPS: n.MaxFPS,
		RTTSeconds: n.RTT.Seconds(), Loss: n.Loss,
	}
}

// feedNetworkMetrics copies the current call's congestion control figures
// into the network gauges every interval (they keep their last values
// while no call sends).
func feedNetworkMetrics(ctx context.Context, every time.Duration, stats func() session.NetworkStats, m *status.NetworkMetrics) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := currentNetwork(stats, now); n != nil {
				m.Set(*n)
			}
		}
	}
}
