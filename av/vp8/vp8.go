// Package vp8 reads what it needs of VP8 (RFC 6386) and of its RTP payload
// format (RFC 7741) to account for received video: it assembles frames from
// RTP packets and reads a keyframe's size. It never decodes pixels, and it
// treats every input as untrusted.
package vp8

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// KeyframeSize reads the width and height from a VP8 keyframe: the 3-byte
// frame tag (bit 0 clear for a keyframe, then the 19-bit size of the first
// partition), the start code 9d 01 2a, then the 14-bit width and the 14-bit
// height, little-endian (the top two bits of each are the scaling mode). ok
// is false for an interframe, a truncated frame, a wrong start code, a zero
// size or a first partition that would run past the end of frame.
func KeyframeSize(frame []byte) (w, h int, ok bool) {
	const header = 10
	if len(frame) < header {
		return 0, 0, false
	}
	tag := uint32(frame[0]) | uint32(frame[1])<<8 | uint32(frame[2])<<16
	if tag&1 != 0 { // interframe
		return 0, 0, false
	}
	if frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	firstPartition := int(tag >> 5)
	if firstPartition == 0 || firstPartition > len(frame)-header {
		return 0, 0, false
	}
	w = int(uint16(frame[6])|uint16(frame[7])<<8) & 0x3fff
	h = int(uint16(frame[8])|uint16(frame[9])<<8) & 0x3fff
	if w == 0 || h == 0 {
		return 0, 0, false
	}
	return w, h, true
}

// IsKeyframe says whether frame is a well-formed keyframe (see KeyframeSize).
func IsKeyframe(frame []byte) bool {
	_, _, ok := KeyframeSize(frame)
	return ok
}

// DefaultMaxFrameSize bounds a frame the Assembler will hold (a 1080p
// keyframe at a high bitrate is a few hundred KiB).
const DefaultMaxFrameSize = 2 << 20

// Assembler rebuilds VP8 frames from RTP packets in arrival order. A frame
// starts with a packet whose payload descriptor has S=1 and PID=0 and ends
// with the RTP marker bit. A frame with a missing packet (a sequence number
// gap), a timestamp change inside it, a payload descriptor that does not
// parse, or more than MaxFrameSize bytes is dropped and counted in Dropped.
// It does not reorder: on the loopback and LAN links it is meant for,
// packets arrive in order, and a NACK retransmission that arrives late only
// costs one frame in the count. The zero value is ready to use; it is not
// safe for concurrent use.
type Assembler struct {
	// MaxFrameSize bounds one frame; 0 means DefaultMaxFrameSize.
	MaxFrameSize int

	// Frames is the number of complete frames returned by Push; Keyframes
	// how many of them were keyframes; Dropped the frames lost to gaps or
	// bad input.
	Frames, Keyframes, Dropped uint64

	buf     []byte
	inFrame bool
	broken  bool
	haveSeq bool
	lastSeq uint16
	ts      uint32
	depack  codecs.VP8Packet
}

// Push adds one RTP packet. When pkt completes a frame, Push returns it; the
// slice is only valid until the next call.
func (a *Assembler) Push(pkt *rtp.Packet) (frame []byte, ok bool) {
	if pkt == nil {
		return nil, false
	}
	gap := a.haveSeq && pkt.SequenceNumber != a.lastSeq+1
	a.haveSeq, a.lastSeq = true, pkt.SequenceNumber

	payload, err := a.depack.Unmarshal(pkt.Payload)
	if err != nil {
		a.breakFrame()
		return a.end(pkt.Marker)
	}
	if a.depack.S == 1 && a.depack.PID == 0 {
		if a.inFrame { // the previous frame never saw its marker
			a.Dropped++
		}
		a.inFrame, a.broken, a.ts = true, false, pkt.Timestamp
		a.buf = a.buf[:0]
	} else {
		if !a.inFrame { // the middle of a frame whose start we missed
			a.inFrame, a.broken, a.ts = true, true, pkt.Timestamp
		}
		if gap || pkt.Timestamp != a.ts {
			a.broken = true
		}
	}
	if !a.broken {
		limit := a.MaxFrameSize
		if limit <= 0 {
			limit = DefaultMaxFrameSize
		}
		if len(a.buf)+len(payload) > limit {
			a.broken = true
			a.buf = a.buf[:0]
		} else {
			a.buf = append(a.buf, payload...)
		}
	}
	return a.end(pkt.Marker)
}

func (a *Assembler) breakFrame() {
	if a.inFrame {
		a.broken = true
	}
}

func (a *Assembler) end(marker bool) ([]byte, bool) {
	if !marker || !a.inFrame {
		return nil, false
	}
	a.inFrame = false
	if a.broken || len(a.buf) == 0 {
		a.Dropped++
		return nil, false
	}
	a.Frames++
	if IsKeyframe(a.buf) {
		a.Keyframes++
	}
	return a.buf, true
}
