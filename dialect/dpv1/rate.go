package dpv1

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/rtc"
)

// rateInterval is how often a call hands its send tracks the rate
// congestion control allows (GCC updates its estimate on every feedback
// report, a few times a second; the encoder needs no finer steps).
const rateInterval = 500 * time.Millisecond

// controlRate is the call's congestion control: every rateInterval it
// maps the PeerConnection's GCC estimate to the send rate of rtc's ladder
// (audio reserved first, the rest to the VP8 target and frame rate) and
// hands it, with the loss and round-trip time measured on the path, to
// every send track. A server that declines transport-cc gets the fixed
// MaxVideoBitrate. It ends with ctx (teardown, before it closes the
// PeerConnection), closing c.rateDone.
func (c *call) controlRate(ctx context.Context, pc *webrtc.PeerConnection, est cc.BandwidthEstimator, tracks []dialect.SendTrack) {
	defer close(c.rateDone)
	t := time.NewTicker(rateInterval)
	defer t.Stop()
	var logged rtc.SendRate
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r := rtc.RateFor(est.GetTargetBitrate())
		if d := pc.RemoteDescription(); d != nil && !strings.Contains(d.SDP, "transport-cc") {
			// The server declined the feedback: nothing to estimate from,
			// so the fixed rate kioskd always sent (Estimate 0: unknown).
			r = rtc.SendRate{VideoBitrate: rtc.MaxVideoBitrate}
		}
		if loss, ok := est.GetStats()["averageLoss"].(float64); ok {
			r.Loss = loss
		}
		r.RTT = pathRTT(pc)
		if newStep(logged, r) {
			c.log.Info("send rate", "estimate_bps", r.Estimate, "video_bps", r.VideoBitrate,
				"max_fps", r.MaxFPS, "rtt_ms", r.RTT.Milliseconds(), "loss", math.Round(r.Loss*1000)/1000)
			logged = r
		}
		for _, tr := range tracks {
			tr.SetRate(r)
		}
	}
}

// newStep says whether r is worth a log line after logged: a new frame
// rate step, or a video target a quarter away from the one logged. GCC
// moves its estimate on every feedback report; the log gets the steps.
func newStep(logged, r rtc.SendRate) bool {
	d := r.VideoBitrate - logged.VideoBitrate
	return r.MaxFPS != logged.MaxFPS || logged.VideoBitrate == 0 || 4*max(d, -d) > logged.VideoBitrate
}

// pathRTT is the round-trip time of the far end's latest RTCP receiver
// report on what this side sends (the largest over its streams), or 0
// before one came.
func pathRTT(pc *webrtc.PeerConnection) time.Duration {
	var rtt float64
	for _, s := range pc.GetStats() {
		switch r := s.(type) {
		case webrtc.RemoteInboundRTPStreamStats:
			rtt = max(rtt, r.RoundTripTime)
		case *webrtc.RemoteInboundRTPStreamStats:
			rtt = max(rtt, r.RoundTripTime)
		}
	}
	return time.Duration(rtt * float64(time.Second))
}
