package rtc

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// TestRateFor: the ladder reserves the audio first and steps the frame
// rate down with the video target.
func TestRateFor(t *testing.T) {
	for _, tc := range []struct {
		estimate, video, fps int
	}{
		{10_000, MinVideoBitrate, 5},                    // not even the audio: video at its floor
		{120_000, (120_000 - AudioReserve) * 9 / 10, 5}, // the lab's thin uplink
		{150_000, (150_000 - AudioReserve) * 9 / 10, 8},
		{250_000, (250_000 - AudioReserve) * 9 / 10, 12},
		{InitialEstimate, (InitialEstimate - AudioReserve) * 9 / 10, 12},
		{400_000, (400_000 - AudioReserve) * 9 / 10, 0},
		{5_000_000, MaxVideoBitrate, 0},
	} {
		r := RateFor(tc.estimate)
		if r.Estimate != tc.estimate || r.VideoBitrate != tc.video || r.MaxFPS != tc.fps {
			t.Errorf("RateFor(%d) = %+v, want video %d at most %d fps", tc.estimate, r, tc.video, tc.fps)
		}
		if tc.estimate >= MinEstimate && r.VideoBitrate+AudioReserve > tc.estimate {
			t.Errorf("RateFor(%d): video %d and audio %d exceed the estimate", tc.estimate, r.VideoBitrate, AudioReserve)
		}
	}
}

// TestTWCCNegotiated: kioskd's offer asks for transport-wide congestion
// control feedback and carries the transport-wide sequence number
// extension on both its video and its audio, and every PeerConnection
// comes with its own bandwidth estimator starting at InitialEstimate.
func TestTWCCNegotiated(t *testing.T) {
	api, err := NewWebRTCAPI(PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pc, est, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc2, est2, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc2.Close()
	if est == nil || est == est2 {
		t.Fatal("PeerConnections without an estimator of their own")
	}
	if got := est.GetTargetBitrate(); got != InitialEstimate {
		t.Fatalf("estimate %d at the start, want %d", got, InitialEstimate)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer.SDP); err != nil {
		t.Fatal(err)
	}
	if len(parsed.MediaDescriptions) != 2 {
		t.Fatalf("%d media sections", len(parsed.MediaDescriptions))
	}
	for _, md := range parsed.MediaDescriptions {
		var fb, ext bool
		for _, a := range md.Attributes {
			fb = fb || (a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " transport-cc"))
			ext = ext || (a.Key == "extmap" && strings.HasSuffix(a.Value, " "+sdp.TransportCCURI))
		}
		if !fb || !ext {
			t.Errorf("%s section: transport-cc feedback %v, sequence number extension %v; want both", md.MediaName.Media, fb, ext)
		}
	}
}

// NewPeerConnectionFrom starts the PeerConnection's estimator where it is
// told, clamped to GCC's range, and leaves NewPeerConnection's start alone.
func TestNewPeerConnectionFrom(t *testing.T) {
	api, err := NewWebRTCAPI(PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ask, want int }{
		{110_000, 110_000},
		{1, MinEstimate},
		{10 * MaxEstimate, MaxEstimate},
	} {
		pc, est, err := api.NewPeerConnectionFrom(webrtc.Configuration{}, c.ask)
		if err != nil {
			t.Fatal(err)
		}
		got := est.GetTargetBitrate()
		_ = pc.Close()
		if got != c.want {
			t.Errorf("estimate %d at the start asked for %d, want %d", got, c.ask, c.want)
		}
	}
	pc, est, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if got := est.GetTargetBitrate(); got != InitialEstimate {
		t.Fatalf("estimate %d at the start after NewPeerConnectionFrom, want %d", got, InitialEstimate)
	}
}
