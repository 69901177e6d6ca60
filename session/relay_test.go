package session

import (
	"testing"

	"github.com/kioskd/kioskd/rtc"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeTrack is a capture track that records its bindings.
type fakeTrack struct {
	kind  webrtc.RTPCodecType
	binds []webrtc.TrackLocalContext
}

func (f *fakeTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	f.binds = append(f.binds, c)
	return c.CodecParameters()[0], nil
}
func (f *fakeTrack) Unbind(webrtc.TrackLocalContext) error { return nil }
func (f *fakeTrack) ID() string                            { return "fake-" + f.kind.String() }
func (f *fakeTrack) RID() string                           { return "" }
func (f *fakeTrack) StreamID() string                      { return "fake" }
func (f *fakeTrack) Kind() webrtc.RTPCodecType             { return f.kind }

// TestRelaySlots: a call offers a slot for every configured kind, bound or
// not; a track that appears during a call fills its kind's empty slot
// (never a new one: the call's transceivers are negotiated); a Reset's new
// tracks reuse the slots; each capture track is bound exactly once.
func TestRelaySlots(t *testing.T) {
	video, audio := webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio
	var rs relays
	mic := &fakeTrack{kind: audio}
	slots, err := rs.forCall([]webrtc.RTPCodecType{video, audio}, []webrtc.TrackLocal{mic})
	if err != nil || len(slots) != 2 || slots[0].kind != video || slots[1].kind != audio {
		t.Fatalf("slots %v, %v: want video and audio", slots, err)
	}
	if !slots[0].empty() || !slots[1].holds(mic) || len(mic.binds) != 1 {
		t.Fatal("the camera's slot must be empty, the microphone's bound once")
	}
	videoStatic := slots[0].static

	// Mid-call: the camera appears and fills the empty slot.
	cam := &fakeTrack{kind: video}
	bound, err := rs.bindNew([]webrtc.TrackLocal{mic, cam})
	if err != nil || len(bound) != 1 || bound[0] != cam || !slots[0].holds(cam) {
		t.Fatalf("bindNew = %v, %v; want the camera in its slot", bound, err)
	}
	if len(cam.binds) != 1 || len(mic.binds) != 1 {
		t.Fatalf("binds: camera %d, microphone %d; want 1 each", len(cam.binds), len(mic.binds))
	}
	slots[0].requestKeyFrame()
	if len(slots[0].ctx.rtcpIn) != 1 {
		t.Fatal("a keyframe request did not reach the camera's encoder")
	}
	// A second track of a kind has no slot during a call: it waits.
	if bound, _ := rs.bindNew([]webrtc.TrackLocal{&fakeTrack{kind: video}}); len(bound) != 0 {
		t.Fatal("bindNew added a slot during a call")
	}

	// Reset: the camera is gone, the microphone reopened. The same slots
	// (the same static tracks) are offered; the old bindings are ended.
	oldCtx := slots[0].ctx
	mic2 := &fakeTrack{kind: audio}
	slots, err = rs.forCall([]webrtc.RTPCodecType{video, audio}, []webrtc.TrackLocal{mic2})
	if err != nil || len(slots) != 2 || slots[0].static != videoStatic || !slots[0].empty() || !slots[1].holds(mic2) {
		t.Fatalf("after a reset: %v, %v", slots, err)
	}
	select {
	case <-oldCtx.done:
	default:
		t.Fatal("the lost camera's binding was not ended")
	}
	slots[0].requestKeyFrame() // an empty slot drops it

	// A source that names no kinds: slots for its tracks only.
	var plain relays
	if slots, _ := plain.forCall(nil, []webrtc.TrackLocal{&fakeTrack{kind: audio}}); len(slots) != 1 {
		t.Fatalf("%d slots for one track", len(slots))
	}
	if slots, _ := plain.forCall(nil, nil); len(slots) != 0 {
		t.Fatalf("%d slots without tracks or kinds", len(slots))
	}
	rs.closeAll()
	plain.closeAll()
}

// peerWriter stands for a PeerConnection's SRTP writer: until ready it
// drops packets as pion does before DTLS is up (0 bytes, no error).
type peerWriter struct {
	ready   bool
	packets int
}

func (w *peerWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if !w.ready {
		return 0, nil
	}
	w.packets++
	return h.MarshalSize() + len(payload), nil
}
func (w *peerWriter) Write(b []byte) (int, error) { return len(b), nil }

// peerContext is a PeerConnection's binding of a slot's static track.
type peerContext struct {
	*relayContext
	w *peerWriter
}

func (c peerContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

// TestRelayCountsWhatIsSent: SendStats counts the video frames (marker bit)
// and audio packets, with their payload bytes, that a bound call's
// PeerConnection took; nothing while no call is bound, before the call's
// SRTP is up, or after it unbound.
func TestRelayCountsWhatIsSent(t *testing.T) {
	video, audio := webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio
	var rs relays
	cam, mic := &fakeTrack{kind: video}, &fakeTrack{kind: audio}
	slots, err := rs.forCall([]webrtc.RTPCodecType{video, audio}, []webrtc.TrackLocal{cam, mic})
	if err != nil || len(slots) != 2 {
		t.Fatalf("slots %v, %v", slots, err)
	}
	defer rs.closeAll()
	camOut, micOut := cam.binds[0].WriteStream(), mic.binds[0].WriteStream()
	// A 3-packet VP8 frame (100 bytes each) and one Opus packet of 40.
	send := func() {
		for i := 1; i <= 3; i++ {
			if _, err := camOut.WriteRTP(&rtp.Header{Marker: i == 3}, make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := micOut.WriteRTP(&rtp.Header{Marker: false}, make([]byte, 40)); err != nil {
			t.Fatal(err)
		}
	}

	send() // no call bound
	if got := rs.sent(); got != (SendStats{}) {
		t.Fatalf("sent %+v with no call bound, want nothing", got)
	}

	// A call binds both slots; its SRTP is not up yet.
	vw, aw := &peerWriter{}, &peerWriter{}
	vctx := peerContext{&relayContext{id: "v", codec: rtc.Codec(video), ssrc: 1}, vw}
	actx := peerContext{&relayContext{id: "a", codec: rtc.Codec(audio), ssrc: 2}, aw}
	if _, err := slots[0].static.Bind(vctx); err != nil {
		t.Fatal(err)
	}
	if _, err := slots[1].static.Bind(actx); err != nil {
		t.Fatal(err)
	}
	send()
	if got := rs.sent(); got != (SendStats{}) {
		t.Fatalf("sent %+v before SRTP is up, want nothing", got)
	}

	vw.ready, aw.ready = true, true
	send()
	send()
	want := SendStats{VideoFrames: 2, VideoBytes: 600, AudioPackets: 2, AudioBytes: 80}
	if got := rs.sent(); got != want || vw.packets != 6 || aw.packets != 2 {
		t.Fatalf("sent %+v (peer got %d video, %d audio packets), want %+v", got, vw.packets, aw.packets, want)
	}

	// The call ends: its PeerConnection unbinds; nothing more is counted.
	if err := slots[0].static.Unbind(vctx); err != nil {
		t.Fatal(err)
	}
	if err := slots[1].static.Unbind(actx); err != nil {
		t.Fatal(err)
	}
	send()
	if got := rs.sent(); got != want {
		t.Fatalf("sent %+v after the call unbound, want still %+v", got, want)
	}
}
