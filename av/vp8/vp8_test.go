package vp8

import (
	"bytes"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/kioskd/kioskd/av/synthetic"
)

// keyframeHeader builds the 10-byte header of a keyframe of w x h whose
// first partition is part bytes, followed by part bytes of filler.
func keyframeHeader(w, h, part int) []byte {
	tag := uint32(part)<<5 | 1<<4 // keyframe (bit 0 clear), version 0, show_frame
	b := []byte{byte(tag), byte(tag >> 8), byte(tag >> 16), 0x9d, 0x01, 0x2a,
		byte(w), byte(w >> 8), byte(h), byte(h >> 8)}
	return append(b, make([]byte, part)...)
}

func TestKeyframeSizeHandMade(t *testing.T) {
	for _, c := range []struct{ w, h int }{{320, 240}, {640, 480}, {1, 1}, {16383, 16383}, {1920, 1080}} {
		w, h, ok := KeyframeSize(keyframeHeader(c.w, c.h, 4))
		if !ok || w != c.w || h != c.h {
			t.Errorf("%dx%d: got %dx%d ok=%v", c.w, c.h, w, h, ok)
		}
	}
	// The scaling bits (top two of each 16-bit field) are not part of the size.
	f := keyframeHeader(320, 240, 4)
	f[7] |= 0xc0
	f[9] |= 0x40
	if w, h, ok := KeyframeSize(f); !ok || w != 320 || h != 240 {
		t.Errorf("with scaling bits: %dx%d ok=%v", w, h, ok)
	}
}

func TestKeyframeSizeRejectsHostileInput(t *testing.T) {
	good := keyframeHeader(320, 240, 4)
	cases := map[string][]byte{
		"nil":         nil,
		"empty":       {},
		"one byte":    {0x00},
		"nine bytes":  good[:9],
		"interframe":  append([]byte{good[0] | 1}, good[1:]...),
		"bad start":   append(append([]byte{}, good[:3]...), append([]byte{0x9d, 0x01, 0x2b}, good[6:]...)...),
		"zero width":  keyframeHeader(0, 240, 4),
		"zero height": keyframeHeader(320, 0, 4),
		"no partition": func() []byte {
			b := keyframeHeader(320, 240, 0)
			return b
		}(),
		"truncated partition": keyframeHeader(320, 240, 4)[:12],
		"all ones":            bytes.Repeat([]byte{0xff}, 64),
	}
	for name, f := range cases {
		if w, h, ok := KeyframeSize(f); ok {
			t.Errorf("%s: accepted as %dx%d", name, w, h)
		}
	}
	// Random garbage never panics.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		b := make([]byte, r.IntN(40))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		KeyframeSize(b)
	}
}

func FuzzKeyframeSize(f *testing.F) {
	f.Add(keyframeHeader(320, 240, 4))
	f.Add([]byte{0x9d, 0x01, 0x2a})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, h, ok := KeyframeSize(b)
		if ok && (w <= 0 || h <= 0 || w > 16383 || h > 16383) {
			t.Fatalf("impossible size %dx%d", w, h)
		}
	})
}

// encode makes n real VP8 frames of w x h with libvpx (the first is a keyframe).
func encode(t *testing.T, w, h, n int) [][]byte {
	t.Helper()
	params, err := vpx.NewVP8Params()
	if err != nil {
		t.Fatal(err)
	}
	params.BitRate = 200_000
	src := synthetic.NewVideo(w, h, 1000)
	defer src.Close()
	enc, err := params.BuildVideoEncoder(video.ReaderFunc(func() (image.Image, func(), error) {
		return src.Read()
	}), prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: 15, FrameFormat: frame.FormatI420}})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var out [][]byte
	for len(out) < n {
		b, release, err := enc.Read()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			out = append(out, append([]byte(nil), b...))
		}
		release()
	}
	return out
}

// packetize splits frames into RTP packets as a sender would.
func packetize(frames [][]byte, mtu uint16) []*rtp.Packet {
	var pkts []*rtp.Packet
	seq := uint16(65530) // wraps around on purpose
	var pay codecs.VP8Payloader
	for i, f := range frames {
		payloads := pay.Payload(mtu, f)
		for j, p := range payloads {
			pkts = append(pkts, &rtp.Packet{
				Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
					Timestamp: uint32(i * 6000), Marker: j == len(payloads)-1},
				Payload: p,
			})
			seq++
		}
	}
	return pkts
}

func TestRealEncoderKeyframeAndAssembly(t *testing.T) {
	frames := encode(t, 176, 144, 4)
	w, h, ok := KeyframeSize(frames[0])
	if !ok || w != 176 || h != 144 {
		t.Fatalf("libvpx keyframe read as %dx%d ok=%v, want 176x144", w, h, ok)
	}
	var a Assembler
	var got [][]byte
	for _, p := range packetize(frames, 300) {
		if f, ok := a.Push(p); ok {
			got = append(got, append([]byte(nil), f...))
		}
	}
	if len(got) != len(frames) {
		t.Fatalf("assembled %d frames, want %d (dropped %d)", len(got), len(frames), a.Dropped)
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("frame %d differs after RTP round trip", i)
		}
	}
	if a.Frames != uint64(len(frames)) || a.Keyframes < 1 || a.Dropped != 0 {
		t.Fatalf("counters frames=%d keyframes=%d dropped=%d", a.Frames, a.Keyframes, a.Dropped)
	}
}

func TestAssemblerDropsDamagedFrames(t *testing.T) {
	frames := [][]byte{keyframeHeader(320, 240, 3000), bytes.Repeat([]byte{1}, 2500), bytes.Repeat([]byte{2}, 2500)}
	pkts := packetize(frames, 1000)
	// Lose the second packet of the first frame.
	var a Assembler
	n := 0
	for i, p := range pkts {
		if i == 1 {
			continue
		}
		if _, ok := a.Push(p); ok {
			n++
		}
	}
	if n != 2 || a.Dropped != 1 {
		t.Fatalf("after losing one packet: %d frames, %d dropped; want 2 and 1", n, a.Dropped)
	}

	// Lose the marker packet of the first frame: the next start drops it.
	var b Assembler
	n = 0
	firstLen := len(packetize(frames[:1], 1000))
	for i, p := range pkts {
		if i == firstLen-1 {
			continue
		}
		if _, ok := b.Push(p); ok {
			n++
		}
	}
	if n != 2 || b.Dropped != 1 {
		t.Fatalf("after losing a marker: %d frames, %d dropped; want 2 and 1", n, b.Dropped)
	}

	// Joining mid-frame: the partial frame is dropped, the next one kept.
	var c Assembler
	n = 0
	for _, p := range pkts[1:] {
		if _, ok := c.Push(p); ok {
			n++
		}
	}
	if n != 2 || c.Dropped != 1 {
		t.Fatalf("joining mid-frame: %d frames, %d dropped; want 2 and 1", n, c.Dropped)
	}
}

func TestAssemblerHostilePackets(t *testing.T) {
	var a Assembler
	a.MaxFrameSize = 4000
	a.Push(nil)
	a.Push(&rtp.Packet{})                                                        // empty payload
	a.Push(&rtp.Packet{Payload: []byte{0x80}, Header: rtp.Header{Marker: true}}) // X bit with no extension byte
	a.Push(&rtp.Packet{Payload: []byte{0x10}, Header: rtp.Header{Marker: true}}) // start with no data
	// A frame that grows past the limit is dropped, not held.
	big := packetize([][]byte{bytes.Repeat([]byte{7}, 10000)}, 1000)
	for _, p := range big {
		if _, ok := a.Push(p); ok {
			t.Fatal("oversized frame returned")
		}
	}
	if len(a.buf) > 4000 {
		t.Fatalf("assembler holds %d bytes over its limit", len(a.buf))
	}
	// Random packets never panic.
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		p := make([]byte, r.IntN(30))
		for j := range p {
			p[j] = byte(r.Uint32())
		}
		a.Push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(r.Uint32()), Marker: r.IntN(3) == 0}, Payload: p})
	}
	// And a good frame still comes through afterwards.
	good := packetize([][]byte{keyframeHeader(64, 48, 100)}, 1000)
	var got bool
	for _, p := range good {
		if f, ok := a.Push(p); ok {
			if w, h, ok := KeyframeSize(f); ok && w == 64 && h == 48 {
				got = true
			}
		}
	}
	if !got {
		t.Fatal("a good keyframe after garbage was not assembled")
	}
}
