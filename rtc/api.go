// Package rtc is kioskd's WebRTC engine: the pion API every call uses, with
// the codecs kioskd sends and receives (VP8 and Opus, declared once here),
// its interceptors and its ICE settings.
package rtc

import (
	"errors"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/webrtc/v4"
)

// PeerOptions tune the WebRTC side.
type PeerOptions struct {
	// ICEServers are the configured STUN and TURN servers
	// (server.ice_servers), with their credentials.
	ICEServers []webrtc.ICEServer
	// RelayOnly gathers relay candidates only
	// (server.ice_transport_policy: relay).
	RelayOnly bool
	// ICEDisconnectedTimeout and ICEFailedTimeout shorten pion's defaults
	// (5 s, 25 s) so a dead path is noticed while a visitor still waits.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
	// Net, if set, is the network ICE gathers on, refreshed before an ICE
	// restart (see Net); nil: pion's own, read once per PeerConnection.
	Net *Net
}

// TransportPolicy is the PeerConnection's ICE transport policy.
func (o PeerOptions) TransportPolicy() webrtc.ICETransportPolicy {
	if o.RelayOnly {
		return webrtc.ICETransportPolicyRelay
	}
	return webrtc.ICETransportPolicyAll
}

// API is the pion API of every kioskd call, with the bandwidth estimator
// of each PeerConnection it builds.
type API struct {
	*webrtc.API

	// mu serialises NewPeerConnection: pion builds the PeerConnection's
	// interceptors (and with them its estimator) inside
	// webrtc.API.NewPeerConnection, and hands the estimator to the
	// factory's callback there, synchronously.
	mu      sync.Mutex
	est     cc.BandwidthEstimator
	initial int // the estimator's start for the PeerConnection being built
}

// NewWebRTCAPI builds the pion API of every kioskd call: VP8 and Opus
// only (what kioskd sends; a small SDP), the default interceptors
// (NACK, RTCP reports, TWCC feedback for what it receives), the
// transport-wide sequence numbers on what it sends and pion's GCC
// estimating the send rate from the far end's feedback (both for video
// and audio), no mDNS (kiosks and labs must not multicast) and loopback
// candidates (a lab or the VM test may have no other interface).
func NewWebRTCAPI(o PeerOptions) (*API, error) {
	m := &webrtc.MediaEngine{}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterCodec(Codec(kind), kind); err != nil {
			return nil, err
		}
	}
	a := &API{}
	reg := &interceptor.Registry{}
	// GCC first: before the NACK responder, which then limits
	// retransmissions to the target rate. No pacer: the encoder's CBR
	// target is the pacing, and a pacer's queue would hold the
	// microphone's packets behind a key frame's.
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(a.initial),
			gcc.SendSideBWEMinBitrate(MinEstimate),
			gcc.SendSideBWEMaxBitrate(MaxEstimate),
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()))
	})
	if err != nil {
		return nil, err
	}
	ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { a.est = e })
	reg.Add(ccf)
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCHeaderExtensionSender(m, reg); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	dt, ft := o.ICEDisconnectedTimeout, o.ICEFailedTimeout
	if dt <= 0 {
		dt = 3 * time.Second
	}
	if ft <= 0 {
		ft = 10 * time.Second
	}
	se.SetICETimeouts(dt, ft, time.Second)
	if o.Net != nil {
		se.SetNet(o.Net)
	}
	a.API = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	return a, nil
}

// NewPeerConnection builds a PeerConnection and returns it with its
// bandwidth estimator (closed with the PeerConnection), starting at
// InitialEstimate.
func (a *API) NewPeerConnection(cfg webrtc.Configuration) (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	return a.NewPeerConnectionFrom(cfg, InitialEstimate)
}

// NewPeerConnectionFrom is NewPeerConnection with the estimator starting
// at initial bits/s (clamped to [MinEstimate, MaxEstimate]): for a far end
// whose feedback comes too seldom for GCC to find a thin link quickly
// from InitialEstimate (dialect/livekit).
func (a *API) NewPeerConnectionFrom(cfg webrtc.Configuration, initial int) (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.est = nil
	a.initial = min(max(initial, MinEstimate), MaxEstimate)
	pc, err := a.API.NewPeerConnection(cfg)
	if err != nil {
		return nil, nil, err
	}
	est := a.est
	a.est = nil
	if est == nil {
		_ = pc.Close()
		return nil, nil, errNoEstimator
	}
	return pc, est, nil
}

var errNoEstimator = errors.New("rtc: the PeerConnection has no bandwidth estimator")

// videoFeedback is what kioskd's VP8 receiver and sender understand: REMB,
// FIR, NACK and PLI.
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"},
	{Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// Codec is the one codec kioskd uses for kind: VP8 for video, Opus (48 kHz,
// in-band FEC) for audio.
func Codec(kind webrtc.RTPCodecType) webrtc.RTPCodecParameters {
	if kind == webrtc.RTPCodecTypeAudio {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
			PayloadType:        111,
		}
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
		PayloadType:        96,
	}
}
