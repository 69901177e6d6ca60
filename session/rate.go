package session

import (
	"math"
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

// lossController is an encoder told the packet loss to expect (media's
// Opus encoder: its in-band FEC is sized by it).
type lossController interface {
	SetExpectedLoss(percent int) error
}

// maxExpectedLoss caps the loss handed to the audio encoder: past it the
// FEC would take more of Opus's fixed bitrate than it gives back.
const maxExpectedLoss = 25

// expectedLoss is the measured loss (0..1) as the whole percent the Opus
// encoder is told to expect: rounded up, so any measured loss turns FEC on.
func expectedLoss(loss float64) int {
	return min(int(math.Ceil(loss*100-1e-9)), maxExpectedLoss)
}

// setRate sets the video encoder's target bitrate and frame-rate cap, when
// they changed. Audio slots keep their rate (Opus is the reserve), and
// their encoder is told the loss measured on the path (in-band FEC).
func (r *relay) setRate(rate rtc.SendRate) {
	if r.kind != webrtc.RTPCodecTypeVideo {
		r.setLoss(rate.Loss)
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

// setLoss hands the audio encoder the loss to expect (it keeps the last
// value and does nothing when it is unchanged).
func (r *relay) setLoss(loss float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	et, ok := r.inner.(encoderTrack)
	if !ok {
		return
	}
	if lc, ok := et.EncoderController().(lossController); ok {
		_ = lc.SetExpectedLoss(expectedLoss(loss))
	}
}
