package status

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Network is what the call's congestion control last allowed and
// measured on its path (issue 15 item 1): the bandwidth estimate (pion's
// GCC from the far end's transport-wide feedback), the VP8 target and its
// frame-rate cap, the round-trip time of the path (dialect.RateControl:
// the far end's RTCP receiver reports where pion reports them, which
// pion 4.2 does not, else ICE's consent checks on the selected candidate
// pair, every 2 s; 0 before either) and the fraction of packets lost. `kioskd status` shows it as
// its Network row while Connected; the one-shot reply only, so that
// watchers are not woken by every new estimate.
type Network struct {
	EstimateBPS int     `json:"estimate_bps"` // 0: none (no transport-cc feedback)
	VideoBPS    int     `json:"video_bps"`
	MaxFPS      int     `json:"max_fps"` // 0: the camera's rate
	RTTSeconds  float64 `json:"rtt_seconds"`
	Loss        float64 `json:"loss"` // 0..1
}

// String is the Network row: "estimate 131 kbit/s, video 67 kbit/s at
// ≤5 fps, RTT 12 ms, loss 3.0 %".
func (n Network) String() string {
	fps := ""
	if n.MaxFPS > 0 {
		fps = fmt.Sprintf(" at ≤%d fps", n.MaxFPS)
	}
	est := "none (the server sends no transport-cc feedback)"
	if n.EstimateBPS > 0 {
		est = fmt.Sprintf("%d kbit/s", n.EstimateBPS/1000)
	}
	// A LAN's RTT is well under a millisecond: shown as 0 ms it would
	// read as "not measured", which is what 0 means.
	rtt := "unknown"
	switch ms := n.RTTSeconds * 1000; {
	case ms >= 10:
		rtt = fmt.Sprintf("%.0f ms", ms)
	case ms > 0:
		rtt = fmt.Sprintf("%.1f ms", max(ms, 0.1))
	}
	return fmt.Sprintf("estimate %s, video %d kbit/s%s, RTT %s, loss %.1f %%",
		est, n.VideoBPS/1000, fps, rtt, n.Loss*100)
}

// NetworkMetrics are Network's gauges:
//
//	kioskd_bandwidth_estimate_bps       GCC's estimate of the path, bits/s
//	kioskd_video_target_bitrate_bps     the VP8 encoder's target, bits/s
//	kioskd_rtt_seconds                  round-trip time (ICE's checks, see Network)
//	kioskd_packet_loss_ratio            packets lost, 0..1 (transport-wide feedback)
//
// kioskd (package daemon) sets them every 5 s from the session's last
// call; they keep their last values between calls.
type NetworkMetrics struct {
	estimate, video, rtt, loss prometheus.Gauge
}

// NewNetworkMetrics creates Network's gauges and registers them with reg.
func NewNetworkMetrics(reg prometheus.Registerer) (*NetworkMetrics, error) {
	m := &NetworkMetrics{
		estimate: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_bandwidth_estimate_bps",
			Help: "Send-side bandwidth estimate of the call's path (GCC), bits/s."}),
		video: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_video_target_bitrate_bps",
			Help: "Target bitrate of the VP8 encoder set by congestion control, bits/s."}),
		rtt: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_rtt_seconds",
			Help: "Round-trip time of the call's media path (ICE connectivity checks on the selected pair; 0: not measured yet)."}),
		loss: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_packet_loss_ratio",
			Help: "Fraction of the packets sent that were lost (transport-wide feedback), 0..1."}),
	}
	for _, c := range []prometheus.Collector{m.estimate, m.video, m.rtt, m.loss} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("status: register network metrics: %w", err)
		}
	}
	return m, nil
}

// Set sets the gauges to n.
func (m *NetworkMetrics) Set(n Network) {
	m.estimate.Set(float64(n.EstimateBPS))
	m.video.Set(float64(n.VideoBPS))
	m.rtt.Set(n.RTTSeconds)
	m.loss.Set(n.Loss)
}
