package status

import "github.com/prometheus/client_golang/prometheus"

// Media kinds, the kind label of the media byte counters.
const (
	KindVideo = "video"
	KindAudio = "audio"
)

// MediaMetrics count what the kiosk's calls sent to the Digital Person and
// what came back, in the units each kind has (VP8 frames, Opus packets)
// and in bytes of RTP payload:
//
//	kioskd_media_video_frames_sent_total         VP8 frames a call's PeerConnection sent
//	kioskd_media_audio_packets_sent_total        Opus packets sent
//	kioskd_media_sent_bytes_total{kind}          RTP payload bytes sent, video or audio
//	kioskd_media_video_frames_received_total     VP8 frames received from the DP
//	kioskd_media_audio_packets_received_total    Opus packets received from the DP
//	kioskd_media_received_bytes_total{kind}      RTP payload bytes received
//
// A bitrate is rate() of the byte counters (×8 for bits), over the
// scrape's own window: kioskd keeps no gauge of its own guess.
// kioskd (package daemon) feeds them every 5 s: the sent side from
// session.Supervisor.SendStats (counted where the session's relays hand
// RTP to a bound call, so nothing while no call is bound), the received
// side from media.Sink.Stats.
type MediaMetrics struct {
	videoFramesSent, audioPacketsSent         prometheus.Counter
	videoFramesReceived, audioPacketsReceived prometheus.Counter
	bytesSent, bytesReceived                  *prometheus.CounterVec
}

func newMediaMetrics() *MediaMetrics {
	m := &MediaMetrics{
		videoFramesSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_media_video_frames_sent_total",
			Help: "VP8 frames sent to the Digital Person."}),
		audioPacketsSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_media_audio_packets_sent_total",
			Help: "Opus packets sent to the Digital Person."}),
		videoFramesReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_media_video_frames_received_total",
			Help: "VP8 frames received from the Digital Person."}),
		audioPacketsReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_media_audio_packets_received_total",
			Help: "Opus packets received from the Digital Person."}),
		bytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_media_sent_bytes_total",
			Help: "RTP payload bytes sent to the Digital Person, by kind (video, audio)."}, []string{"kind"}),
		bytesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_media_received_bytes_total",
			Help: "RTP payload bytes received from the Digital Person, by kind (video, audio)."}, []string{"kind"}),
	}
	for _, k := range []string{KindVideo, KindAudio} {
		m.bytesSent.WithLabelValues(k)
		m.bytesReceived.WithLabelValues(k)
	}
	return m
}

func (m *MediaMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.videoFramesSent, m.audioPacketsSent, m.videoFramesReceived,
		m.audioPacketsReceived, m.bytesSent, m.bytesReceived}
}

// MediaCounts are counts of one direction since the last report.
type MediaCounts struct {
	VideoFrames, AudioPackets uint64
	VideoBytes, AudioBytes    uint64
}

// AddSent counts what was sent since the last call.
func (m *MediaMetrics) AddSent(c MediaCounts) {
	if m == nil {
		return
	}
	m.videoFramesSent.Add(float64(c.VideoFrames))
	m.audioPacketsSent.Add(float64(c.AudioPackets))
	m.bytesSent.WithLabelValues(KindVideo).Add(float64(c.VideoBytes))
	m.bytesSent.WithLabelValues(KindAudio).Add(float64(c.AudioBytes))
}

// AddReceived counts what was received from the DP since the last call.
func (m *MediaMetrics) AddReceived(c MediaCounts) {
	if m == nil {
		return
	}
	m.videoFramesReceived.Add(float64(c.VideoFrames))
	m.audioPacketsReceived.Add(float64(c.AudioPackets))
	m.bytesReceived.WithLabelValues(KindVideo).Add(float64(c.VideoBytes))
	m.bytesReceived.WithLabelValues(KindAudio).Add(float64(c.AudioBytes))
}
