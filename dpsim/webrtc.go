package dpsim

import (
	"github.com/kioskd/kioskd/dpwire"

	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kioskd/kioskd/av/synthetic"
)

// unreachableCandidate is what ICEFailure trickles: a host candidate on
// TEST-NET-3 (RFC 5737) port 9 (discard): no STUN answer ever comes back.
const unreachableCandidate = "candidate:1 1 udp 2130706431 203.0.113.1 9 typ host"

// newAPI builds the pion API: VP8 and Opus (as the encoders of codecs
// register them), NACK, RTCP reports, transport-wide congestion control
// feedback on what it receives (a browser's or an SFU's: what the kiosk's
// bandwidth estimator reads), and the ICE settings of cfg.
func newAPI(cfg Config, sel *mediadevices.CodecSelector) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	sel.Populate(me)
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	if !cfg.NoTWCC {
		if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.ICELoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	if len(cfg.ICEPublicIPs) > 0 {
		// Advertise the public addresses in place of the host candidates,
		// as a server behind a 1:1 NAT must.
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        cfg.ICEPublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, err
		}
	}
	if cfg.ICEPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.ICEPortMin, cfg.ICEPortMax); err != nil {
			return nil, err
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// receiveKinds says which kinds the offer wants to receive: a media
// section (not rejected) whose direction is sendrecv or recvonly.
func receiveKinds(offer string) (audio, video bool, err error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return false, false, err
	}
	sessionDir := "sendrecv"
	for _, a := range sd.Attributes {
		switch a.Key {
		case "sendrecv", "recvonly", "sendonly", "inactive":
			sessionDir = a.Key
		}
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Port.Value == 0 {
			continue
		}
		dir := sessionDir
		for _, a := range md.Attributes {
			switch a.Key {
			case "sendrecv", "recvonly", "sendonly", "inactive":
				dir = a.Key
			}
		}
		if dir != "sendrecv" && dir != "recvonly" {
			continue
		}
		switch md.MediaName.Media {
		case "audio":
			audio = true
		case "video":
			video = true
		}
	}
	return audio, video, nil
}

// answer answers the client's offer with the DP's tracks on the media
// sections in which the client receives; an error says why it could not.
func (c *conn) answer(o dpwire.Offer) error {
	s := c.srv
	c.plan.iceFailure = c.strike(s.cfg.Scenario.ICEFailure, &s.counts.offers)
	wantAudio, wantVideo, err := receiveKinds(o.SDP)
	if err != nil {
		return fmt.Errorf("offer SDP: %w", err)
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("PeerConnection: %w", err)
	}
	c.pc = pc
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) { c.post(evCandidate{pc: pc, cand: cand}) })
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { c.post(evPCState{pc: pc}) })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.account(pc, tr) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	if wantVideo {
		if err := c.addDPTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}); err != nil {
			return fmt.Errorf("video track: %w", err)
		}
	}
	if wantAudio {
		if err := c.addDPTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}); err != nil {
			return fmt.Errorf("audio track: %w", err)
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	// The answer goes out before any candidate: candidates reach the loop
	// through c.events, after this returns.
	c.send(dpwire.Answer{SDP: answer.SDP})
	c.log.Info("answered", "dp_audio", wantAudio, "dp_video", wantVideo, "ice_failure", c.plan.iceFailure)
	if c.plan.iceFailure {
		mid, idx := firstMid(pc), uint16(0)
		c.send(dpwire.Candidate{Candidate: unreachableCandidate, SDPMid: &mid, SDPMLineIndex: &idx})
		c.send(dpwire.Candidate{End: true})
	}
	if c.plan.hostile[HostileCandidateFlood] {
		c.flood(firstMid(pc))
	}
	c.arm(tMedia, s.cfg.Scenario.MediaTimeout)
	return nil
}

// flood sends FloodCandidates distinct unreachable host candidates
// (TEST-NET-3, RFC 5737), or as many as the client reads before it goes.
func (c *conn) flood(mid string) {
	c.log.Info("hostile: flooding the client with candidates", "candidates", FloodCandidates)
	idx := uint16(0)
	for i := 0; i < FloodCandidates; i++ {
		cand := fmt.Sprintf("candidate:%d 1 udp 2130706431 203.0.113.%d %d typ host", 100+i, 1+i%254, 10000+i/254)
		if err := c.cc.Send(dpwire.Candidate{Candidate: cand, SDPMid: &mid, SDPMLineIndex: &idx}); err != nil {
			c.log.Info("hostile: the client stopped the flood", "sent", i, "err", err)
			return
		}
	}
}

func firstMid(pc *webrtc.PeerConnection) string {
	for _, t := range pc.GetTransceivers() {
		if m := t.Mid(); m != "" {
			return m
		}
	}
	return "0"
}

// addCandidate applies one of the client's candidates (none under the
// ICE failure scenario).
func (c *conn) addCandidate(cand dpwire.Candidate) {
	if cand.End {
		c.log.Debug("client's candidates complete")
		return
	}
	if c.plan.iceFailure {
		return
	}
	// At most dpwire.MaxCandidates per connection (docs/PROTOCOL.md section
	// 3.1); the rest are ignored, with one log line, so that a flooding
	// client cannot grow the server's ICE agent without bound.
	if c.clientCands++; c.clientCands > dpwire.MaxCandidates {
		if c.clientCands == dpwire.MaxCandidates+1 {
			c.log.Warn("the client sends more candidates than the protocol allows; ignoring the rest", "limit", dpwire.MaxCandidates)
		}
		s := c.srv
		s.mu.Lock()
		s.stats.CandidatesIgnored++
		s.mu.Unlock()
		return
	}
	err := c.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex})
	if err != nil {
		c.log.Warn("client's candidate ignored", "err", err)
	}
}

// trickle sends one of the server's candidates, or the end marker for nil
// (neither under the ICE failure scenario: answer sent its own).
func (c *conn) trickle(cand *webrtc.ICECandidate) {
	if c.plan.iceFailure {
		return
	}
	if cand == nil {
		c.send(dpwire.Candidate{End: true})
		return
	}
	init := cand.ToJSON()
	c.send(dpwire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
}

// dpTrack is one of the Digital Person's outgoing tracks. The media comes
// from a mediadevices track (a synthetic source and the encoders of
// codecs) read through NewEncodedReader, and is written as samples to a
// pion TrackLocalStaticSample. The mediadevices track is deliberately not
// bound to the PeerConnection: mediadevices' Unbind can hang pc.Close when
// the sender is still waiting for DTLS (an ICE failure), because the
// sender goroutine exits on the write error while Unbind waits for it to
// answer. This way encoding also starts only once media can flow.
type dpTrack struct {
	local    *webrtc.TrackLocalStaticSample
	sender   *webrtc.RTPSender
	src      mediadevices.Track
	keyframe atomic.Bool
}

func (c *conn) addDPTrack(capability webrtc.RTPCodecCapability) error {
	kind := "audio"
	if strings.HasPrefix(capability.MimeType, "video/") {
		kind = "video"
	}
	lt, err := webrtc.NewTrackLocalStaticSample(capability, kind, "dpsim-"+c.sess.id)
	if err != nil {
		return err
	}
	sender, err := c.pc.AddTrack(lt)
	if err != nil {
		return err
	}
	c.out = append(c.out, &dpTrack{local: lt, sender: sender})
	return nil
}

// startMedia starts the DP's face and voice, once the PeerConnection is
// connected.
func (c *conn) startMedia() {
	c.mediaMu.Lock()
	defer c.mediaMu.Unlock()
	if c.mediaClosed {
		return
	}
	cfg := c.srv.cfg
	for _, t := range c.out {
		var codecName string
		var clock time.Duration
		if t.local.Kind() == webrtc.RTPCodecTypeVideo {
			t.src = mediadevices.NewVideoTrack(synthetic.NewVideo(cfg.VideoWidth, cfg.VideoHeight, cfg.VideoFPS), c.srv.selector)
			codecName, clock = webrtc.MimeTypeVP8, 90000
		} else {
			t.src = mediadevices.NewAudioTrack(synthetic.NewTone(cfg.VoiceHz, 48000), c.srv.selector)
			codecName, clock = webrtc.MimeTypeOpus, 48000
		}
		c.mediaWG.Add(2)
		go func() {
			defer c.mediaWG.Done()
			c.send1(t, codecName, clock)
		}()
		go func() {
			defer c.mediaWG.Done()
			readRTCP(t)
		}()
	}
}

// send1 encodes t's source and writes it until the source is closed.
func (c *conn) send1(t *dpTrack, codecName string, clock time.Duration) {
	rd, err := t.src.NewEncodedReader(codecName)
	if err != nil {
		c.log.Error("DP encoder", "codec", codecName, "err", err)
		return
	}
	defer rd.Close()
	kc, _ := rd.Controller().(codec.KeyFrameController)
	for {
		if t.keyframe.Swap(false) && kc != nil {
			_ = kc.ForceKeyFrame()
		}
		buf, release, err := rd.Read()
		if err != nil {
			return
		}
		d := time.Duration(buf.Samples) * time.Second / clock
		_ = t.local.WriteSample(pionmedia.Sample{Data: buf.Data, Duration: d})
		release()
	}
}

// readRTCP reads the kiosk's RTCP for t (the interceptors need it read)
// and turns PLI and FIR into a keyframe request.
func readRTCP(t *dpTrack) {
	for {
		pkts, _, err := t.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				t.keyframe.Store(true)
			}
		}
	}
}

// teardownMedia stops the DP's media, closes the PeerConnection and waits
// for every media goroutine.
func (c *conn) teardownMedia() {
	c.mediaMu.Lock()
	c.mediaClosed = true
	c.mediaMu.Unlock()
	// Closing the sources ends the encoders' reads; closing the
	// PeerConnection ends the RTCP and RTP readers.
	for _, t := range c.out {
		if t.src != nil {
			_ = t.src.Close()
		}
	}
	if c.pc != nil {
		if err := c.pc.GracefulClose(); err != nil {
			c.log.Debug("PeerConnection close", "err", err)
		}
	}
	c.mediaWG.Wait()
}

// account reads one of the kiosk's tracks until it ends.
func (c *conn) account(pc *webrtc.PeerConnection, tr *webrtc.TrackRemote) {
	c.mediaMu.Lock()
	if c.mediaClosed {
		c.mediaMu.Unlock()
		return
	}
	c.mediaWG.Add(1)
	c.mediaMu.Unlock()
	defer c.mediaWG.Done()
	c.log.Info("kiosk track", "kind", tr.Kind().String(), "codec", tr.Codec().MimeType)
	s := c.srv
	acc := Accounting{Mu: &s.mu, Video: &c.sess.video, Audio: &c.sess.audio, Notify: s.notifyLocked,
		VoiceHz: s.cfg.VoiceHz, Window: s.cfg.AnalysisWindow, Log: c.log}
	switch tr.Kind() {
	case webrtc.RTPCodecTypeVideo:
		acc.VideoTrack(tr, pc.WriteRTCP)
	case webrtc.RTPCodecTypeAudio:
		acc.AudioTrack(tr)
	}
}

// restartICE answers the client's ICE restart (docs/PROTOCOL.md section
// 4.12) on the connection's PeerConnection: pion sees new remote
// credentials in the offer and restarts its ICE agent, then gathers the
// candidates of the new generation, trickled as the first ones were. The
// tracks, the DTLS session and the counters of the media stay as they were.
func (c *conn) restartICE(o dpwire.ICERestart) error {
	s := c.srv
	switch {
	case c.plan.hostile[HostileRestartIgnored]:
		c.log.Warn("hostile: ignoring the client's ice_restart, as a 1.2 server")
		return nil
	case c.plan.hostile[HostileRestartGarbage]:
		c.log.Warn("hostile: answering the client's ice_restart with garbage")
		c.send(dpwire.Answer{SDP: "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=dpsim-not-an-answer\r\nt=0 0\r\n"})
		return nil
	}
	pc := c.pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		return fmt.Errorf("ice_restart offer: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("ice_restart answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("ice_restart answer: %w", err)
	}
	// A new exchange: the limit of section 3.1 counts afresh.
	c.clientCands = 0
	// Counted before the answer leaves: a client that saw its restart
	// through finds it in /stats.
	s.mu.Lock()
	s.stats.ICERestarts++
	s.notifyLocked()
	s.mu.Unlock()
	c.send(dpwire.Answer{SDP: answer.SDP})
	c.log.Info("ICE restarted by the client")
	return nil
}
