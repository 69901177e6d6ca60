//go:build livekit

package livekit_test

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/session"
)

// Congestion control runs on the LiveKit publisher as on kioskd.dp.v1:
// livekit-server negotiates transport-cc with kioskd (an Estimate of 0
// would say it declined, and the send rate would stay fixed), and GCC's
// estimate moves from where it starts as the server's feedback comes in;
// the round-trip time of the server's receiver reports is measured. What
// the session records is what the metrics and `kioskd status` show.
func TestPublisherCongestionControl(t *testing.T) {
	ctx := testCtx(t, 180*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-rate"
	srv.JoinDP(t, room, "dp-rate")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	var first, n session.NetworkStats
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		n = k.sup.NetworkStats()
		if first.At.IsZero() && !n.At.IsZero() {
			first = n
			if first.Estimate == 0 {
				t.Fatalf("first send rate %+v: livekit-server declined transport-cc", first.SendRate)
			}
		}
		if first.Estimate > 0 && n.Estimate > first.Estimate && n.RTT > 0 && n.VideoBitrate > first.VideoBitrate {
			break
		}
		select { // polling: the session records the rate every 500 ms and signals nothing
		case <-ctx.Done():
			t.Fatalf("send rate %+v (first %+v): want the estimate above the first (transport-cc negotiated, GCC fed), a higher VP8 target and an RTT", n.SendRate, first.SendRate)
		case <-tick.C:
		}
	}
	t.Logf("send rate: first %+v, then %+v (%v later)", first.SendRate, n.SendRate, n.At.Sub(first.At).Round(time.Millisecond))
}
