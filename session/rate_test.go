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
}

func (e *fakeEncoder) SetBitRate(bps int) error { e.bitRate = bps; e.sets++; return nil }
func (e *fakeEncoder) SetMaxFrameRate(fps int)  { e.fps = fps }

// encodingTrack is a capture track with an encoder, as a mediadevices one.
type encodingTrack struct {
	fakeTrack
	enc *fakeEncoder
}

func (t *encodingTrack) EncoderController() codec.EncoderController { return t.enc }

// TestSetRate: a call's send rate reaches the video encoder (target and
// frame-rate cap, only when they change), never the audio one, and is
// recorded for the metrics whichever track it came through.
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
