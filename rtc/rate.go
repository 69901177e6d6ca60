package rtc

import "time"

// The send-rate ladder of kioskd's congestion control. The estimate is
// pion's GCC (send-side, from the far end's transport-wide feedback) for
// everything a PeerConnection sends; audio is served first:
//
//	estimate − AudioReserve − 10 % (video's own RTP/SRTP/UDP/IP headers)
//	  = the VP8 target, clamped to [MinVideoBitrate, MaxVideoBitrate]
//
// and the frame rate steps down with the target, so that each frame
// still gets bits enough to be a picture at 640x480:
//
//	target ≥ 250 kbit/s   the camera's rate (15 fps by default)
//	target ≥ 120 kbit/s   at most 12 fps
//	target ≥  60 kbit/s   at most 8 fps
//	below                 at most 5 fps
//
// Opus keeps its 32 kbit/s whatever the estimate: the visitor's voice is
// what the Digital Person needs most; on a link that cannot carry even
// the audio reserve, video sends at its floor and the rest is loss.
const (
	// AudioReserve is what the microphone's Opus stream costs on the
	// wire: 32 kbit/s of payload plus 50 packets a second of about 60
	// bytes of RTP (with its header extensions), SRTP tag, UDP and IPv4
	// headers.
	AudioReserve = 56_000
	// MinVideoBitrate is the VP8 target's floor.
	MinVideoBitrate = 30_000
	// MaxVideoBitrate is the VP8 target's ceiling: the fixed rate kioskd
	// sent before congestion control (media's default).
	MaxVideoBitrate = 500_000
	// InitialEstimate is where GCC starts: audio and a 640x480 picture at
	// 12 fps, low enough that a thin link is not flooded for the seconds
	// GCC needs to find it. 300 kbit/s flooded the network lab's 120
	// kbit/s uplink with 150 ms of RTT for its first seconds (the late
	// feedback): 4 runs of 12 lost more than 5 % of the audio there,
	// none of 5 from here (internal/netlab, TestThinUplinkDelay).
	InitialEstimate = 200_000
	// MaxEstimate caps GCC (nothing above audio and MaxVideoBitrate is used).
	MaxEstimate = 2 * (AudioReserve + MaxVideoBitrate)
	// MinEstimate is GCC's floor.
	MinEstimate = AudioReserve + MinVideoBitrate
)

// SendRate is what congestion control allows a call's send tracks, with
// what it measured on the path.
type SendRate struct {
	// Estimate is GCC's estimate of the path's capacity, bits/s.
	Estimate int
	// VideoBitrate is the VP8 encoder's target, bits/s.
	VideoBitrate int
	// MaxFPS caps the video frame rate (0: the camera's rate).
	MaxFPS int
	// RTT is the round-trip time of the path: ICE's consent checks on the
	// selected candidate pair (every 2 s), since pion 4.2 reports no RTT
	// from the far end's RTCP receiver reports (dialect.RateControl; 0:
	// not known yet).
	RTT time.Duration
	// Loss is the fraction of the packets sent that were lost (0..1),
	// from the far end's transport-wide feedback.
	Loss float64
}

// RateFor maps a bandwidth estimate to the send rate of the ladder above.
func RateFor(estimate int) SendRate {
	video := (estimate - AudioReserve) * 9 / 10
	video = min(max(video, MinVideoBitrate), MaxVideoBitrate)
	r := SendRate{Estimate: estimate, VideoBitrate: video}
	switch {
	case video >= 250_000:
	case video >= 120_000:
		r.MaxFPS = 12
	case video >= 60_000:
		r.MaxFPS = 8
	default:
		r.MaxFPS = 5
	}
	return r
}
