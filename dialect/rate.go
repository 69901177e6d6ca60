package dialect

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/rtc"
)

// RateInterval is how often a call hands its send tracks the rate
// congestion control allows (GCC updates its estimate on every feedback
// report, a few times a second; the encoder needs no finer steps).
const RateInterval = 500 * time.Millisecond

// RateControl is a call's congestion control on the PeerConnection that
// carries its send tracks (kioskd.dp.v1: its one PeerConnection; LiveKit:
// the publisher). Every RateInterval it maps the PeerConnection's GCC
// estimate to the send rate of rtc's ladder (audio reserved first, the
// rest to the VP8 target and frame rate) and hands it, with the loss and
// round-trip time measured on the path, to every send track. A server
// that declines transport-cc gets the fixed rtc.MaxVideoBitrate.
//
// It lives here, beside SendTrack, so that every dialect applies the
// estimate the same way, with the same "send rate" log lines.
type RateControl struct {
	stop context.CancelFunc
	done chan struct{}
}

// StartRateControl starts the loop for pc, whose estimator est is (see
// rtc.API.NewPeerConnection), until Stop. log may be nil.
func StartRateControl(pc *webrtc.PeerConnection, est cc.BandwidthEstimator, tracks []SendTrack, log *slog.Logger) *RateControl {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &RateControl{stop: cancel, done: make(chan struct{})}
	go r.run(ctx, pc, est, tracks, log)
	return r
}

// Stop ends the loop and waits for it. A call stops it before it closes
// the PeerConnection: pion's GetStats races a closing PeerConnection. A
// nil RateControl (never started) is fine.
func (r *RateControl) Stop() {
	if r == nil {
		return
	}
	r.stop()
	<-r.done
}

func (r *RateControl) run(ctx context.Context, pc *webrtc.PeerConnection, est cc.BandwidthEstimator, tracks []SendTrack, log *slog.Logger) {
	defer close(r.done)
	t := time.NewTicker(RateInterval)
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
			log.Info("send rate", "estimate_bps", r.Estimate, "video_bps", r.VideoBitrate,
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
// report on what this side sends (the largest over its streams), else that
// of ICE's connectivity checks on the selected candidate pair, or 0 before
// either is known. pion 4.2 fills no remote-inbound-rtp stats, so it is
// ICE's on both dialects today: its consent checks run every 2 s over the
// media's path and queues, one sample each (internal/netlab checks it
// reads the lab's 150 ms of added RTT, kioskd.dp.v1 and livekit alike).
func pathRTT(pc *webrtc.PeerConnection) time.Duration {
	var rtt, ice float64
	for _, s := range pc.GetStats() {
		switch r := s.(type) {
		case webrtc.RemoteInboundRTPStreamStats:
			rtt = max(rtt, r.RoundTripTime)
		case *webrtc.RemoteInboundRTPStreamStats:
			rtt = max(rtt, r.RoundTripTime)
		case webrtc.ICECandidatePairStats:
			if r.Nominated {
				ice = max(ice, r.CurrentRoundTripTime)
			}
		}
	}
	if rtt == 0 {
		rtt = ice
	}
	return time.Duration(rtt * float64(time.Second))
}
