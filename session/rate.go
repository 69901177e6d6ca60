package session

import (
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/rtc"
)

// keyFrameGap is the least time between two key frames asked of an
// encoder: a far end that repeats its PLI (or several calls at once)
// must not turn the video into a stream of key frames, each many times
// a delta frame's size, on exactly the links where frames get lost.
const keyFrameGap = 500 * time.Millisecond

// NetworkStats is what congestion control last allowed and measured
// (see rtc.SendRate), with when; At is zero before any call sent.
type NetworkStats struct {
	rtc.SendRate
	At time.Time
}

// rateRecord keeps the last NetworkStats of any call.
type rateRecord struct {
	mu   sync.Mutex
	last NetworkStats
}

func (rr *rateRecord) set(r rtc.SendRate) {
	rr.mu.Lock()
	rr.last = NetworkStats{SendRate: r, At: time.Now()}
	rr.mu.Unlock()
}

func (rr *rateRecord) get() NetworkStats {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.last
}

// SetRate records the call's send rate and, on a video slot, hands it to
// the encoder of the capture track bound there.
func (t *sendTrack) SetRate(r rtc.SendRate) {
	if t.slot.rate != nil {
		t.slot.rate.set(r)
	}
	t.slot.setRate(r)
}

// encoderTrack is a capture track with an encoder (a mediadevices track).
type encoderTrack interface {
	EncoderController() codec.EncoderController
}

// frameRateController is an encoder that can skip frames (av/vp8enc).
type frameRateController interface {
	SetMaxFrameRate(fps int)
}

// setRate sets the video encoder's target bitrate and frame-rate cap, when
// they changed. Audio slots keep their rate: Opus is the reserve.
func (r *relay) setRate(rate rtc.SendRate) {
	if r.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	et, ok := r.inner.(encoderTrack)
	if !ok {
		return
	}
	ec := et.EncoderController()
	if ec == nil || (rate.VideoBitrate == r.applied.VideoBitrate && rate.MaxFPS == r.applied.MaxFPS && ec == r.appliedTo) {
		return
	}
	if b, ok := ec.(codec.BitRateController); ok && rate.VideoBitrate > 0 {
		_ = b.SetBitRate(rate.VideoBitrate)
	}
	if f, ok := ec.(frameRateController); ok {
		f.SetMaxFrameRate(rate.MaxFPS)
	}
	r.applied, r.appliedTo = rate, ec
}
