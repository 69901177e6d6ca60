package livekit

import (
	"github.com/pion/interceptor/pkg/cc"

	"github.com/kioskd/kioskd/dialect"
)

// controlRate runs congestion control on the publisher PeerConnection,
// which carries everything the kiosk sends (the subscriber only receives:
// its estimator idles). LiveKit negotiates transport-cc on the publisher
// as it does for its own SDKs, so GCC drives the VP8 target as on
// kioskd.dp.v1 (dialect.RateControl). teardown stops it before it closes
// the PeerConnection; a new publisher PeerConnection needs a new one.
func (c *call) controlRate(est cc.BandwidthEstimator) {
	c.rate.Stop()
	c.rate = dialect.StartRateControl(c.pub, est, c.a.Media.Send(), c.log)
}
