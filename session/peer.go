package session

import (
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// PeerOptions tune the WebRTC side.
type PeerOptions struct {
	ICEServers []webrtc.ICEServer
	// ICEDisconnectedTimeout and ICEFailedTimeout shorten pion's defaults
	// (5 s, 25 s) so a dead path is noticed while a visitor still waits.
	ICEDisconnectedTimeout time.Duration
	ICEFailedTimeout       time.Duration
}

// NewWebRTCAPI builds the pion API kioskd and dpsim both use: VP8 and Opus
// only (what SPEC section 7 sends; a small SDP), the default interceptors
// (NACK, RTCP reports, TWCC), no mDNS (kiosks and labs must not multicast)
// and loopback candidates (a lab or the VM test may have no other interface).
func NewWebRTCAPI(o PeerOptions) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	videoFB := []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
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
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}
