package session

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/pion/interceptor"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/rtc"
)

// relay decouples a capture track from the PeerConnections that send it.
//
// A relay is a slot for one kind of media (the camera's video, the
// microphone's audio). Every call's PeerConnection binds the relay's
// TrackLocalStaticRTP, which lives as long as the supervisor; the capture
// track (a mediadevices track, typically) is bound exactly once, for its
// whole life, to the relay, whose writer never fails. So:
//   - a PeerConnection that dies (ICE failure, the server closing first)
//     never makes the capture track's sender fail, which in mediadevices
//     would latch an error on the track and can deadlock its Unbind;
//   - one encoder runs per device, not one per call;
//   - a keyframe request (PLI/FIR) from any call reaches the encoder;
//   - a slot can be empty: an optional device that is missing when a call
//     starts still gets its send track in the offer (kioskd is configured
//     to send that kind), on which nothing is sent until the device
//     appears mid-call and its capture track is bound to the slot. The
//     server sees RTP start on a section negotiated from the beginning:
//     no renegotiation, no reconnect (see Supervisor.hotplug).
type relay struct {
	kind   webrtc.RTPCodecType
	codec  webrtc.RTPCodecParameters
	static *sendTrack

	mu    sync.Mutex
	inner webrtc.TrackLocal // nil while the slot is empty
	ctx   *relayContext     // the binding of inner

	rate      *rateRecord             // where SetRate records (nil: nowhere)
	applied   rtc.SendRate            // the rate last handed to appliedTo
	appliedTo codec.EncoderController // the encoder it went to
	lastKey   time.Time               // the last key frame request passed on
}

// newRelay makes an empty slot for kind; what it sends is counted in sent.
func newRelay(kind webrtc.RTPCodecType, sent *sendCounter) (*relay, error) {
	codec := rtc.Codec(kind)
	static, err := webrtc.NewTrackLocalStaticRTP(codec.RTPCodecCapability, kind.String()+"-"+uuid.NewString()[:8], uuid.NewString())
	if err != nil {
		return nil, err
	}
	r := &relay{kind: kind, codec: codec}
	r.static = &sendTrack{TrackLocalStaticRTP: static, sent: sent, slot: r}
	return r, nil
}

// SendStats is what the kiosk's calls sent since the supervisor started:
// RTP packets a PeerConnection took for sending (written to its SRTP
// stream). Nothing is counted while no call is bound to a slot, or before a
// call's DTLS handshake is done. Bytes are RTP payload bytes.
type SendStats struct {
	VideoFrames  uint64 // VP8 frames (RTP packets with the marker bit)
	VideoBytes   uint64
	AudioPackets uint64 // Opus packets
	AudioBytes   uint64
}

// sendCounter counts what one kind sends.
type sendCounter struct {
	frames, bytes atomic.Uint64
}

// sendTrack is a slot's TrackLocalStaticRTP, which every call's
// PeerConnection binds; it counts what goes out on each binding. It is the
// dialect.SendTrack a call gets.
type sendTrack struct {
	*webrtc.TrackLocalStaticRTP
	sent *sendCounter
	slot *relay
}

var _ dialect.SendTrack = (*sendTrack)(nil)

// RequestKeyFrame forwards a call's keyframe request (PLI, FIR) to the
// encoder of the capture track bound to the slot.
func (t *sendTrack) RequestKeyFrame() { t.slot.requestKeyFrame() }

// Bind binds a PeerConnection's sender, with a writer that counts.
func (t *sendTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return t.TrackLocalStaticRTP.Bind(countingContext{c, countingWriter{c.WriteStream(), t.sent, t.Kind() == webrtc.RTPCodecTypeVideo}})
}

// countingContext is a PeerConnection's TrackLocalContext whose writer counts.
type countingContext struct {
	webrtc.TrackLocalContext
	w countingWriter
}

func (c countingContext) WriteStream() webrtc.TrackLocalWriter { return c.w }

type countingWriter struct {
	webrtc.TrackLocalWriter
	sent  *sendCounter
	video bool // count frames (the marker bit ends a VP8 frame), not packets
}

// WriteRTP counts a packet the PeerConnection wrote (before SRTP is up it
// drops packets, returning 0 and no error).
func (w countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	n, err := w.TrackLocalWriter.WriteRTP(h, payload)
	if n > 0 && err == nil && w.sent != nil {
		if h.Marker || !w.video {
			w.sent.frames.Add(1)
		}
		w.sent.bytes.Add(uint64(len(payload)))
	}
	return n, err
}

// bind binds inner, once for its life, to the empty slot.
func (r *relay) bind(inner webrtc.TrackLocal) error {
	rc := &relayContext{
		id:     uuid.NewString(),
		codec:  r.codec,
		ssrc:   webrtc.SSRC(uuid.New().ID()),
		out:    r.static,
		rtcpIn: make(chan []byte, 8),
		done:   make(chan struct{}),
	}
	if _, err := inner.Bind(rc); err != nil {
		return fmt.Errorf("bind %s track: %w", inner.Kind(), err)
	}
	r.mu.Lock()
	r.inner, r.ctx = inner, rc
	r.mu.Unlock()
	return nil
}

// holds reports whether inner is the track bound to the slot.
func (r *relay) holds(inner webrtc.TrackLocal) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inner == inner
}

// empty reports whether no capture track is bound.
func (r *relay) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inner == nil
}

// requestKeyFrame forwards a picture loss indication to the encoder, at
// most one per keyFrameGap (the ones in between are dropped: the key
// frame on its way answers them too).
func (r *relay) requestKeyFrame() {
	r.mu.Lock()
	rc := r.ctx
	if rc == nil {
		r.mu.Unlock()
		return // nothing to encode yet; a new encoder starts with a keyframe
	}
	if now := time.Now(); now.Sub(r.lastKey) < keyFrameGap {
		r.mu.Unlock()
		return
	} else {
		r.lastKey = now
	}
	r.mu.Unlock()
	pkt, err := rtcp.Marshal([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(rc.ssrc)}})
	if err != nil {
		return
	}
	select {
	case rc.rtcpIn <- pkt:
	default: // one pending request is as good as many
	}
}

// unbind ends the relay's side of the capture track's binding and empties
// the slot; the capture track itself is closed by its owner (the
// MediaSource), exactly once.
func (r *relay) unbind() {
	r.mu.Lock()
	rc := r.ctx
	r.inner, r.ctx = nil, nil
	r.mu.Unlock()
	if rc != nil {
		rc.once.Do(func() { close(rc.done) })
	}
}

// relayContext is the TrackLocalContext the capture track is bound to.
type relayContext struct {
	id     string
	codec  webrtc.RTPCodecParameters
	ssrc   webrtc.SSRC
	out    *sendTrack
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

// relays keeps one slot per kind the kiosk sends, across calls.
type relays struct {
	mu    sync.Mutex
	slots []*relay
	// what the slots sent, by kind, across calls and slots
	sentVideo, sentAudio sendCounter
	// what congestion control last allowed, across calls
	rate rateRecord
}

func (rs *relays) newRelay(kind webrtc.RTPCodecType) (*relay, error) {
	sent := &rs.sentVideo
	if kind == webrtc.RTPCodecTypeAudio {
		sent = &rs.sentAudio
	}
	r, err := newRelay(kind, sent)
	if r != nil {
		r.rate = &rs.rate
	}
	return r, err
}

// sent returns what the slots sent so far.
func (rs *relays) sent() SendStats {
	return SendStats{
		VideoFrames: rs.sentVideo.frames.Load(), VideoBytes: rs.sentVideo.bytes.Load(),
		AudioPackets: rs.sentAudio.frames.Load(), AudioBytes: rs.sentAudio.bytes.Load(),
	}
}

// forCall returns the slots a new call sends: one for every kind in kinds
// (what the MediaSource is configured to send, present or not) and one
// for every track. Tracks no longer handed out (closed by a Reset) are
// unbound first, new ones bound to an empty slot of their kind.
func (rs *relays) forCall(kinds []webrtc.RTPCodecType, tracks []webrtc.TrackLocal) ([]*relay, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	current := map[webrtc.TrackLocal]bool{}
	for _, t := range tracks {
		current[t] = true
	}
	var errs []error
	for _, r := range rs.slots {
		r.mu.Lock()
		stale := r.inner != nil && !current[r.inner]
		r.mu.Unlock()
		if stale {
			r.unbind()
		}
	}
	for _, k := range kinds {
		if rs.count(k) < count(kinds, k) {
			r, err := rs.newRelay(k)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rs.slots = append(rs.slots, r)
		}
	}
	_, err := rs.bindLocked(tracks, true)
	errs = append(errs, err)
	// A slot neither configured nor bound (a source whose track went away)
	// is not offered again.
	var out []*relay
	keep := rs.slots[:0]
	for _, r := range rs.slots {
		if !r.empty() || count(kinds, r.kind) > 0 {
			keep = append(keep, r)
			out = append(out, r)
		}
	}
	rs.slots = keep
	return out, errors.Join(errs...)
}

// bindNew binds the tracks that are not bound yet to empty slots of their
// kind, during a call: no slot is added, so the call's transceivers stay as
// negotiated. It returns the tracks newly bound; a track without an empty
// slot of its kind waits for the next call.
func (rs *relays) bindNew(tracks []webrtc.TrackLocal) ([]webrtc.TrackLocal, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.bindLocked(tracks, false)
}

func (rs *relays) bindLocked(tracks []webrtc.TrackLocal, addSlots bool) ([]webrtc.TrackLocal, error) {
	var bound []webrtc.TrackLocal
	var errs []error
next:
	for _, t := range tracks {
		var free *relay
		for _, r := range rs.slots {
			if r.holds(t) {
				continue next
			}
			if free == nil && r.kind == t.Kind() && r.empty() {
				free = r
			}
		}
		if free == nil {
			if !addSlots {
				continue
			}
			r, err := rs.newRelay(t.Kind())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rs.slots = append(rs.slots, r)
			free = r
		}
		if err := free.bind(t); err != nil {
			errs = append(errs, err)
			continue
		}
		bound = append(bound, t)
	}
	return bound, errors.Join(errs...)
}

func (rs *relays) count(k webrtc.RTPCodecType) int {
	n := 0
	for _, r := range rs.slots {
		if r.kind == k {
			n++
		}
	}
	return n
}

func count(kinds []webrtc.RTPCodecType, k webrtc.RTPCodecType) int {
	n := 0
	for _, x := range kinds {
		if x == k {
			n++
		}
	}
	return n
}

func (rs *relays) closeAll() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.slots {
		r.unbind()
	}
	rs.slots = nil
}
