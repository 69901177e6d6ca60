package dialect

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/rtc"
)

// rateTrack is a send track that hands each rate to the test.
type rateTrack struct {
	webrtc.TrackLocal
	rates chan rtc.SendRate
}

func (r *rateTrack) RequestKeyFrame() {}
func (r *rateTrack) SetRate(s rtc.SendRate) {
	select {
	case r.rates <- s:
	default: // the test reads what it needs; the loop never blocks on it
	}
}

func (r *rateTrack) next(t *testing.T, ctx context.Context) rtc.SendRate {
	t.Helper()
	select {
	case s := <-r.rates:
		return s
	case <-ctx.Done():
		t.Fatal("no send rate")
		return rtc.SendRate{}
	}
}

// The loop hands the estimate's rate to every send track every
// RateInterval; once the far end's answer declines transport-cc it hands
// the fixed rtc.MaxVideoBitrate with an unknown estimate; after Stop it
// hands nothing more. Real pion PeerConnections of kioskd's engine, the
// far end one without TWCC.
func TestRateControl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api, err := rtc.NewWebRTCAPI(rtc.PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pc, est, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	local, err := webrtc.NewTrackLocalStaticSample(rtc.Codec(webrtc.RTPCodecTypeVideo).RTPCodecCapability, "video", "kiosk")
	if err != nil {
		t.Fatal(err)
	}
	tr := &rateTrack{TrackLocal: local, rates: make(chan rtc.SendRate, 1)}
	if _, err := pc.AddTrack(local); err != nil {
		t.Fatal(err)
	}
	rc := StartRateControl(pc, est, []SendTrack{tr}, nil)
	stopped := false
	defer func() {
		if !stopped {
			rc.Stop()
		}
	}()
	if r := tr.next(t, ctx); r != rtc.RateFor(rtc.InitialEstimate) {
		t.Fatalf("first rate %+v, want the ladder's at the initial estimate %+v", r, rtc.RateFor(rtc.InitialEstimate))
	}

	// A far end without transport-cc: VP8 with no feedback, no header extension.
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	far, err := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{})).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := far.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := far.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(answer.SDP, "transport-cc") {
		t.Fatalf("the far end's answer has transport-cc:\n%s", answer.SDP)
	}
	if err := pc.SetRemoteDescription(answer); err != nil {
		t.Fatal(err)
	}
	// The rates computed before the answer may still come; then the fixed one.
	r := tr.next(t, ctx)
	for r.Estimate != 0 {
		r = tr.next(t, ctx)
	}
	if r.VideoBitrate != rtc.MaxVideoBitrate || r.MaxFPS != 0 {
		t.Fatalf("rate without transport-cc %+v, want the fixed %d and no estimate", r, rtc.MaxVideoBitrate)
	}
	if r := tr.next(t, ctx); r.Estimate != 0 || r.VideoBitrate != rtc.MaxVideoBitrate {
		t.Fatalf("then %+v, want the fixed rate again", r)
	}

	rc.Stop()
	stopped = true
	select {
	case <-tr.rates: // at most the one sent before Stop returned
	default:
	}
	select {
	case r := <-tr.rates:
		t.Fatalf("a rate after Stop: %+v", r)
	case <-time.After(2 * RateInterval): // absence: nothing signals "no call"
	}
	var never *RateControl
	never.Stop() // a call that never started one
}

// A log line for each step of the ladder or a target a quarter away, not
// for GCC's every move.
func TestNewStep(t *testing.T) {
	at := func(video, fps int) rtc.SendRate { return rtc.SendRate{VideoBitrate: video, MaxFPS: fps} }
	for _, tc := range []struct {
		logged, r rtc.SendRate
		want      bool
	}{
		{rtc.SendRate{}, at(200_000, 12), true},
		{at(200_000, 12), at(220_000, 12), false},
		{at(200_000, 12), at(251_000, 12), true},
		{at(200_000, 12), at(149_000, 12), true},
		{at(200_000, 12), at(200_000, 8), true},
	} {
		if got := newStep(tc.logged, tc.r); got != tc.want {
			t.Errorf("newStep(%+v, %+v) = %v, want %v", tc.logged, tc.r, got, tc.want)
		}
	}
}
