package session

import (
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/rtc"
)

// fakeEncoder records what congestion control asks of it.
type fakeEncoder struct {
	bitRate, fps, sets int
	loss, lossSets     int
}

func (e *fakeEncoder) SetExpectedLoss(p int) error { e.loss = p; e.lossSets++; return nil }

func (e *fakeEncoder) SetBitRate(bps int) error { e.bitRate = bps; e.sets++; return nil }
func (e *fakeEncoder) SetMaxFrameRate(fps int)  { e.fps = fps }

// encodingTrack is a capture track with an encoder, as a mediadevices one.
type encodingTrack struct {
	fakeTrack
	enc *fakeEncoder
}

func (t *encodingTrack) EncoderController() codec.EncoderController { return t.enc }

// TestSetRate: a call's send rate reaches the video encoder (target and
// frame-rate cap, only when they change), never the audio one, which is
// told the loss to expect instead (its in-band FEC), and is recorded for
// the metrics whichever track it came through.
func TestSetRate(t *testing.T) {
	video, audio := webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio
	var rs relays
	defer rs.closeAll()
	cam := &encodingTrack{fakeTrack: fakeTrack{kind: video}, enc: &fakeEncoder{}}
	mic := &encodingTrack{fakeTrack: fakeTrack{kind: audio}, enc: &fakeEncoder{}}
	slots, err := rs.forCall([]webrtc.RTPCodecType{video, audio}, []webrtc.TrackLocal{cam, mic})
	if err != nil || len(slots) != 2 {
		t.Fatalf("slots %v, %v", slots, err)
	}
	r := rtc.RateFor(120_000)
	r.RTT, r.Loss = 80*time.Millisecond, 0.03
	for _, s := range slots {
		s.static.SetRate(r)
		s.static.SetRate(r)
	}
	if cam.enc.bitRate != r.VideoBitrate || cam.enc.fps != r.MaxFPS || cam.enc.sets != 1 {
		t.Fatalf("camera's encoder got %+v, want %d bit/s at most %d fps, set once", cam.enc, r.VideoBitrate, r.MaxFPS)
	}
	if mic.enc.sets != 0 {
		t.Fatal("the microphone's encoder was given a rate: Opus keeps its own")
	}
	if mic.enc.loss != 3 || cam.enc.lossSets != 0 {
		t.Fatalf("the microphone's encoder expects %d %% loss, want the measured 3 %%; the camera's was told %d times", mic.enc.loss, cam.enc.lossSets)
	}
	got := rs.rate.get()
	if got.SendRate != r || got.At.IsZero() {
		t.Fatalf("recorded %+v, want %+v", got, r)
	}
}

// TestKeyFrameGap: keyframe requests reach the encoder at most once per
// keyFrameGap, however many the far end (or several calls) send.
func TestKeyFrameGap(t *testing.T) {
	var rs relays
	defer rs.closeAll()
	cam := &fakeTrack{kind: webrtc.RTPCodecTypeVideo}
	slots, err := rs.forCall(nil, []webrtc.TrackLocal{cam})
	if err != nil || len(slots) != 1 {
		t.Fatalf("slots %v, %v", slots, err)
	}
	s := slots[0]
	for range 5 {
		s.requestKeyFrame()
		select {
		case <-s.ctx.rtcpIn:
		default:
		}
	}
	s.requestKeyFrame()
	if len(s.ctx.rtcpIn) != 0 {
		t.Fatal("a second request within the gap reached the encoder")
	}
	s.mu.Lock()
	s.lastKey = time.Now().Add(-keyFrameGap) // the gap has passed
	s.mu.Unlock()
	s.requestKeyFrame()
	if len(s.ctx.rtcpIn) != 1 {
		t.Fatal("a request after the gap did not reach the encoder")
	}
}

// The measured loss as the percent Opus expects: rounded up, capped.
func TestExpectedLoss(t *testing.T) {
	for _, c := range []struct {
		loss float64
		want int
	}{{0, 0}, {0.001, 1}, {0.03, 3}, {0.031, 4}, {0.1, 10}, {0.6, maxExpectedLoss}, {1, maxExpectedLoss}} {
		if got := expectedLoss(c.loss); got != c.want {
			t.Errorf("expectedLoss(%v) = %d, want %d", c.loss, got, c.want)
		}
	}
}
