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

	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/av/vp8"
)

// unreachableCandidate is what ICEFailure trickles: a host candidate on
// TEST-NET-3 (RFC 5737) port 9 (discard): no STUN answer ever comes back.
const unreachableCandidate = "candidate:1 1 udp 2130706431 203.0.113.1 9 typ host"

// newAPI builds the pion API: VP8 and Opus (as the encoders of codecs
// register them), NACK and RTCP reports, and the ICE settings of cfg.
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
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.ICELoopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	if len(cfg.ICEPublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.ICEPublicIPs, webrtc.ICECandidateTypeHost)
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

// onOffer answers the client's offer with the DP's tracks on the media
// sections in which the client receives.
func (r *conn) onOffer(o dpwire.Offer) {
	if r.step != StepConnecting || r.pc != nil {
		r.log.Warn("offer ignored (out of order)", "step", r.step, "have_offer", r.pc != nil)
		return
	}
	s := r.srv
	r.iceFail = r.strike(s.cfg.Scenario.ICEFailure, &s.counts.offers)
	fail := func(what string, err error) {
		r.closeWith(ReasonMediaStreamFailed, fmt.Sprintf("%s: %v", what, err))
	}
	wantAudio, wantVideo, err := receiveKinds(o.SDP)
	if err != nil {
		fail("offer SDP", err)
		return
	}
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		fail("PeerConnection", err)
		return
	}
	r.pc = pc
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { r.post(evCandidate{pc: pc, c: c}) })
	pc.OnConnectionStateChange(func(webrtc.PeerConnectionState) { r.post(evPCState{pc: pc}) })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { r.account(pc, tr) })
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		fail("offer", err)
		return
	}
	if wantVideo {
		if err := r.addDPTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}); err != nil {
			fail("video track", err)
			return
		}
	}
	if wantAudio {
		if err := r.addDPTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}); err != nil {
			fail("audio track", err)
			return
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		fail("answer", err)
		return
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		fail("answer", err)
		return
	}
	// The answer goes out before any candidate: candidates reach the loop
	// through r.events, after this returns.
	r.send(dpwire.Answer{SDP: answer.SDP})
	r.log.Info("answered", "dp_audio", wantAudio, "dp_video", wantVideo, "ice_failure", r.iceFail)
	if r.iceFail {
		mid, idx := firstMid(pc), uint16(0)
		r.send(dpwire.Candidate{Candidate: unreachableCandidate, SDPMid: &mid, SDPMLineIndex: &idx})
		r.send(dpwire.Candidate{End: true})
	}
	r.mediaAlarm.set(s.cfg.Scenario.MediaTimeout)
}

func firstMid(pc *webrtc.PeerConnection) string {
	for _, t := range pc.GetTransceivers() {
		if m := t.Mid(); m != "" {
			return m
		}
	}
	return "0"
}

func (r *conn) onRemoteCandidate(c dpwire.Candidate) {
	if r.pc == nil {
		r.log.Warn("candidate before offer ignored (out of order)")
		return
	}
	if c.End {
		r.log.Debug("client's candidates complete")
		return
	}
	if r.iceFail {
		return
	}
	err := r.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
	if err != nil {
		r.log.Warn("client's candidate ignored", "err", err)
	}
}

func (r *conn) onEvent(ev any) {
	switch e := ev.(type) {
	case evCandidate:
		if e.pc != r.pc || r.iceFail {
			return
		}
		if e.c == nil {
			r.send(dpwire.Candidate{End: true})
			return
		}
		init := e.c.ToJSON()
		r.send(dpwire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	case evPCState:
		if e.pc != r.pc {
			return
		}
		// pion calls the handler in a goroutine per change, so changes
		// may come out of order: act on the current state.
		switch st := e.pc.ConnectionState(); st {
		case webrtc.PeerConnectionStateConnected:
			if !r.pcConnected {
				r.pcConnected = true
				r.mediaAlarm.reset()
				r.startMedia()
				r.log.Info("PeerConnection connected")
				r.maybeReady()
			}
		case webrtc.PeerConnectionStateFailed:
			if r.connected {
				// No ICE restart in v1: the kiosk resumes the session
				// with a new PeerConnection.
				r.closeWith(ReasonControlDisconnected, "media path failed; resume the session")
			} else {
				r.closeWith(ReasonMediaStreamFailed, "WebRTC (ICE/DTLS) failed")
			}
		case webrtc.PeerConnectionStateDisconnected:
			r.log.Warn("PeerConnection disconnected")
		}
	}
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

func (r *conn) addDPTrack(c webrtc.RTPCodecCapability) error {
	kind := "audio"
	if strings.HasPrefix(c.MimeType, "video/") {
		kind = "video"
	}
	lt, err := webrtc.NewTrackLocalStaticSample(c, kind, "dpsim-"+r.sess.id)
	if err != nil {
		return err
	}
	sender, err := r.pc.AddTrack(lt)
	if err != nil {
		return err
	}
	r.out = append(r.out, &dpTrack{local: lt, sender: sender})
	return nil
}

// startMedia starts the DP's face and voice, once the PeerConnection is
// connected.
func (r *conn) startMedia() {
	r.mediaMu.Lock()
	defer r.mediaMu.Unlock()
	if r.mediaClosed || r.mediaStarted {
		return
	}
	r.mediaStarted = true
	cfg := r.srv.cfg
	for _, t := range r.out {
		var codecName string
		var clock time.Duration
		if t.local.Kind() == webrtc.RTPCodecTypeVideo {
			t.src = mediadevices.NewVideoTrack(synthetic.NewVideo(cfg.VideoWidth, cfg.VideoHeight, cfg.VideoFPS), r.srv.selector)
			codecName, clock = webrtc.MimeTypeVP8, 90000
		} else {
			t.src = mediadevices.NewAudioTrack(synthetic.NewTone(cfg.VoiceHz, 48000), r.srv.selector)
			codecName, clock = webrtc.MimeTypeOpus, 48000
		}
		r.mediaWG.Add(2)
		go func() {
			defer r.mediaWG.Done()
			r.send1(t, codecName, clock)
		}()
		go func() {
			defer r.mediaWG.Done()
			readRTCP(t)
		}()
	}
}

// send1 encodes t's source and writes it until the source is closed.
func (r *conn) send1(t *dpTrack, codecName string, clock time.Duration) {
	rd, err := t.src.NewEncodedReader(codecName)
	if err != nil {
		r.log.Error("DP encoder", "codec", codecName, "err", err)
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
func (r *conn) teardownMedia() {
	r.mediaMu.Lock()
	r.mediaClosed = true
	r.mediaMu.Unlock()
	// Closing the sources ends the encoders' reads; closing the
	// PeerConnection ends the RTCP and RTP readers.
	for _, t := range r.out {
		if t.src != nil {
			_ = t.src.Close()
		}
	}
	if r.pc != nil {
		if err := r.pc.GracefulClose(); err != nil {
			r.log.Debug("PeerConnection close", "err", err)
		}
	}
	r.mediaWG.Wait()
}

// account reads one of the kiosk's tracks until it ends.
func (r *conn) account(pc *webrtc.PeerConnection, tr *webrtc.TrackRemote) {
	r.mediaMu.Lock()
	if r.mediaClosed {
		r.mediaMu.Unlock()
		return
	}
	r.mediaWG.Add(1)
	r.mediaMu.Unlock()
	defer r.mediaWG.Done()
	r.log.Info("kiosk track", "kind", tr.Kind().String(), "codec", tr.Codec().MimeType)
	switch tr.Kind() {
	case webrtc.RTPCodecTypeVideo:
		r.accountVideo(pc, tr)
	case webrtc.RTPCodecTypeAudio:
		r.accountAudio(tr)
	}
}

func (r *conn) accountVideo(pc *webrtc.PeerConnection, tr *webrtc.TrackRemote) {
	s, sess := r.srv, r.sess
	codec := tr.Codec().MimeType
	isVP8 := strings.EqualFold(codec, webrtc.MimeTypeVP8)
	s.mu.Lock()
	sess.video.Codec = codec
	s.mu.Unlock()
	var asm vp8.Assembler
	var dropped uint64
	var lastPLI time.Time
	haveKey := false
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		var frame []byte
		if isVP8 {
			frame, _ = asm.Push(pkt)
		}
		w, h, key := vp8.KeyframeSize(frame)
		s.mu.Lock()
		v := &sess.video
		v.Packets++
		v.Dropped += int64(asm.Dropped - dropped)
		dropped = asm.Dropped
		if frame != nil {
			v.Frames++
			if key {
				v.Keyframes++
				v.Width, v.Height = w, h
			}
			s.notifyLocked()
		}
		s.mu.Unlock()
		haveKey = haveKey || key
		// Ask for a keyframe until one arrives: the size is in it.
		if isVP8 && !haveKey && time.Since(lastPLI) > time.Second {
			lastPLI = time.Now()
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
		}
	}
}

func (r *conn) accountAudio(tr *webrtc.TrackRemote) {
	const rate = 48000
	s, sess := r.srv, r.sess
	codec := tr.Codec().MimeType
	s.mu.Lock()
	sess.audio.Codec = codec
	s.mu.Unlock()
	var dec *opus.Decoder
	if strings.EqualFold(codec, webrtc.MimeTypeOpus) {
		d, err := opus.NewDecoder(rate, 1)
		if err != nil {
			r.log.Error("opus decoder", "err", err)
		} else {
			dec = d
			defer dec.Close()
		}
	}
	window := int(s.cfg.AnalysisWindow.Seconds() * rate)
	ring := analysis.NewRing(window)
	pcm := make([]int16, opus.MaxFrameSamples(rate))
	var scratch []int16
	since := 0
	first := true
	var lastSeq uint16
	haveSeq := false
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		lost := 0
		if haveSeq {
			d := pkt.SequenceNumber - lastSeq
			if d == 0 || d > 0x8000 { // duplicate or late: already concealed
				continue
			}
			lost = int(d) - 1
		}
		haveSeq, lastSeq = true, pkt.SequenceNumber
		decodeErr := false
		if dec != nil {
			for i := 0; i < min(lost, 5); i++ {
				if n, err := dec.DecodeLost(pcm); err == nil {
					ring.Write(pcm[:n])
					since += n
				}
			}
			if n, err := dec.Decode(pkt.Payload, pcm); err != nil {
				decodeErr = true
			} else {
				ring.Write(pcm[:n])
				since += n
			}
		}
		analyse := dec != nil && since >= window/2 && ring.Len() >= min(window, rate/2)
		var hz, echo, level float64
		var winMS int
		if analyse {
			since = 0
			scratch = ring.Samples(scratch[:0])
			// The voice's band (±10 %), not its exact frequency: the
			// echo of a tone whose phase jumps (the kiosk's jitter buffer
			// concealing a late packet, a sound card's xrun) keeps its
			// energy there but reads low at the exact frequency.
			hz, echo = analysis.DominantHzAndBandDBFS(scratch, rate, 0.9*s.cfg.VoiceHz, 1.1*s.cfg.VoiceHz)
			level = analysis.RMSDBFS(scratch)
			winMS = len(scratch) * 1000 / rate
		}
		s.mu.Lock()
		a := &sess.audio
		a.Packets++
		a.Lost += int64(lost)
		if decodeErr {
			a.DecodeErrors++
		}
		if analyse {
			a.DominantHz, a.EchoDBFS, a.LevelDBFS, a.WindowMS = hz, echo, level, winMS
		}
		if first || analyse {
			s.notifyLocked()
		}
		s.mu.Unlock()
		first = false
	}
}
