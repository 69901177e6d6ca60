package session

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/google/uuid"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// relay decouples a capture track from the PeerConnections that send it.
//
// The capture track (a mediadevices track, typically) is bound exactly once,
// for its whole life, to the relay, whose writer never fails; every call's
// PeerConnection binds the relay's TrackLocalStaticRTP instead. So:
//   - a PeerConnection that dies (ICE failure, the server closing first)
//     never makes the capture track's sender fail, which in mediadevices
//     would latch an error on the track and can deadlock its Unbind;
//   - one encoder runs per device, not one per call;
//   - a keyframe request (PLI/FIR) from any call reaches the encoder.
type relay struct {
	inner  webrtc.TrackLocal
	static *webrtc.TrackLocalStaticRTP
	ctx    *relayContext
}

// newRelay binds inner once. codec is what we negotiate for its kind.
func newRelay(inner webrtc.TrackLocal, codec webrtc.RTPCodecParameters) (*relay, error) {
	static, err := webrtc.NewTrackLocalStaticRTP(codec.RTPCodecCapability, inner.ID(), inner.StreamID())
	if err != nil {
		return nil, err
	}
	rc := &relayContext{
		id:     uuid.NewString(),
		codec:  codec,
		ssrc:   webrtc.SSRC(uuid.New().ID()),
		out:    static,
		rtcpIn: make(chan []byte, 8),
		done:   make(chan struct{}),
	}
	if _, err := inner.Bind(rc); err != nil {
		return nil, fmt.Errorf("bind %s track: %w", inner.Kind(), err)
	}
	return &relay{inner: inner, static: static, ctx: rc}, nil
}

// requestKeyFrame forwards a picture loss indication to the encoder.
func (r *relay) requestKeyFrame() {
	pkt, err := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(r.ctx.ssrc)}})
	if err != nil {
		return
	}
	select {
	case r.ctx.rtcpIn <- pkt:
	default: // one pending request is as good as many
	}
}

// close ends the relay's side; the capture track itself is closed by its
// owner (the MediaSource), exactly once.
func (r *relay) close() {
	r.ctx.once.Do(func() { close(r.ctx.done) })
}

// relayContext is the TrackLocalContext the capture track is bound to.
type relayContext struct {
	id     string
	codec  webrtc.RTPCodecParameters
	ssrc   webrtc.SSRC
	out    *webrtc.TrackLocalStaticRTP
	rtcpIn chan []byte
	done   chan struct{}
	once   sync.Once
}

func (c *relayContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{c.codec}
}
func (c *relayContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *relayContext) SSRC() webrtc.SSRC                                      { return c.ssrc }
func (c *relayContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (c *relayContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (c *relayContext) ID() string                                             { return c.id }
func (c *relayContext) WriteStream() webrtc.TrackLocalWriter                   { return relayWriter{c} }
func (c *relayContext) RTCPReader() interceptor.RTCPReader                     { return relayRTCP{c} }

type relayWriter struct{ c *relayContext }

// WriteRTP fans the packet out to every bound PeerConnection. Errors of a
// dying PeerConnection are its own business: never fail the capture.
func (w relayWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	_ = w.c.out.WriteRTP(&rtp.Packet{Header: *h, Payload: payload})
	return len(payload), nil
}

func (w relayWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.WriteRTP(&p.Header, p.Payload)
}

type relayRTCP struct{ c *relayContext }

func (r relayRTCP) Read(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	select {
	case pkt := <-r.c.rtcpIn:
		return copy(b, pkt), a, nil
	case <-r.c.done:
		return 0, a, io.EOF
	}
}

// relays keeps one relay per capture track, across calls.
type relays struct {
	mu  sync.Mutex
	all map[webrtc.TrackLocal]*relay
}

// forTracks returns the relays of tracks, creating missing ones and
// dropping those of tracks no longer handed out (closed by a Reset).
func (rs *relays) forTracks(tracks []webrtc.TrackLocal) ([]*relay, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.all == nil {
		rs.all = map[webrtc.TrackLocal]*relay{}
	}
	keep := map[webrtc.TrackLocal]bool{}
	var out []*relay
	var errs []error
	for _, t := range tracks {
		keep[t] = true
		r, ok := rs.all[t]
		if !ok {
			var err error
			r, err = newRelay(t, codecFor(t.Kind()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rs.all[t] = r
		}
		out = append(out, r)
	}
	for t, r := range rs.all {
		if !keep[t] {
			r.close()
			delete(rs.all, t)
		}
	}
	return out, errors.Join(errs...)
}

func (rs *relays) closeAll() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for t, r := range rs.all {
		r.close()
		delete(rs.all, t)
	}
}

// codecFor is the codec kioskd sends for a kind (see NewWebRTCAPI).
func codecFor(kind webrtc.RTPCodecType) webrtc.RTPCodecParameters {
	if kind == webrtc.RTPCodecTypeAudio {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
			PayloadType:        111,
		}
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
		PayloadType:        96,
	}
}
