package livekit

import (
	"github.com/pion/interceptor/pkg/cc"

	"github.com/kioskd/kioskd/dialect"
)

// initialEstimate is where GCC starts on the publisher: below
// rtc.InitialEstimate, because livekit-server's feedback is sparse. It
// negotiates transport-cc for video only (the microphone's packets carry
// no transport-wide sequence number), and its responder sends a report
// only once it holds more than 20 packets: at the 5-12 fps of a thin
// link, one report every 2-3 s, where kioskd.dp.v1's pion responder
// sends one every 100 ms. From rtc.InitialEstimate (audio and 130 kbit/s
// of VP8 at 12 fps) GCC needed the first ~8 s of the call to find the
// network lab's 120 kbit/s uplink, and the tbf queue dropped 38-171
// packets there, audio among them (92.4-95.4 % of it reached the DP,
// issue 15 wants 95 %). From here (audio and 49 kbit/s of VP8 at 5 fps,
// ~110 kbit/s on the wire) the start fits such a link; on a good one GCC
// climbs from here as the feedback comes in.
const initialEstimate = 110_000

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
