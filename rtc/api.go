// Package rtc is kioskd's WebRTC engine: the pion API every call uses, with
// the codecs kioskd sends and receives (VP8 and Opus, declared once here),
// its interceptors and its ICE settings.
package rtc

import (
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
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

// NewWebRTCAPI builds the pion API of every kioskd call: VP8 and Opus
// only (what kioskd sends; a small SDP), the default interceptors
// (NACK, RTCP reports, TWCC), no mDNS (kiosks and labs must not multicast)
// and loopback candidates (a lab or the VM test may have no other interface).
func NewWebRTCAPI(o PeerOptions) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterCodec(Codec(kind), kind); err != nil {
			return nil, err
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
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
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

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
