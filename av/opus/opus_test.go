package opus

import (
	"errors"
	"math"
	"testing"

	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/synthetic"
)

// encodeTone encodes d seconds of a tone in 20 ms packets.
func encodeTone(t *testing.T, hz float64, rate, channels int, seconds float64) [][]byte {
	t.Helper()
	enc, err := NewEncoder(rate, channels, Audio)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	if err := enc.SetBitrate(48000); err != nil {
		t.Fatal(err)
	}
	frame := rate / 50
	mono := make([]int16, frame)
	pcm := make([]int16, frame*channels)
	var phase float64
	var pkts [][]byte
	out := make([]byte, 1500)
	for i := 0; i < int(seconds*50); i++ {
		synthetic.FillSine(mono, hz, 0.3, rate, &phase)
		for j, s := range mono {
			for c := 0; c < channels; c++ {
				pcm[j*channels+c] = s
			}
		}
		n, err := enc.Encode(pcm, out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), out[:n]...))
	}
	return pkts
}

func TestRoundTripKeepsTheTone(t *testing.T) {
	pkts := encodeTone(t, 440, 48000, 1, 1)
	dec, err := NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm := make([]int16, MaxFrameSamples(48000))
	var all []int16
	for _, p := range pkts {
		n, err := dec.Decode(p, pcm)
		if err != nil {
			t.Fatal(err)
		}
		if n != 960 {
			t.Fatalf("decoded %d samples, want 960", n)
		}
		all = append(all, pcm[:n]...)
	}
	tail := all[len(all)/4:] // skip the codec's start-up
	if hz := analysis.DominantHz(tail, 48000); math.Abs(hz-440) > 2 {
		t.Fatalf("decoded tone at %.2f Hz, want 440", hz)
	}
	if lvl := analysis.LevelDBFS(tail, 48000, 440); math.Abs(lvl-20*math.Log10(0.3)) > 2 {
		t.Fatalf("decoded level %.1f dBFS, want about -10.5", lvl)
	}
}

func TestStereoPacketsDecodeToMonoAndOtherRates(t *testing.T) {
	pkts := encodeTone(t, 880, 48000, 2, 0.6)
	dec, err := NewDecoder(16000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm := make([]int16, MaxFrameSamples(16000))
	var all []int16
	for _, p := range pkts {
		n, err := dec.Decode(p, pcm)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pcm[:n]...)
	}
	if len(all) != 30*320 {
		t.Fatalf("got %d samples, want %d", len(all), 30*320)
	}
	if hz := analysis.DominantHz(all[len(all)/4:], 16000); math.Abs(hz-880) > 2 {
		t.Fatalf("tone at %.2f Hz, want 880", hz)
	}
}

func TestDecodeLostConceals(t *testing.T) {
	pkts := encodeTone(t, 440, 48000, 1, 0.2)
	dec, err := NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm := make([]int16, MaxFrameSamples(48000))
	// Before any packet: 20 ms.
	if n, err := dec.DecodeLost(pcm); err != nil || n != 960 {
		t.Fatalf("PLC before any packet: %d, %v", n, err)
	}
	for _, p := range pkts[:5] {
		if _, err := dec.Decode(p, pcm); err != nil {
			t.Fatal(err)
		}
	}
	n, err := dec.DecodeLost(pcm)
	if err != nil || n != 960 {
		t.Fatalf("PLC: %d samples, %v; want 960", n, err)
	}
	// A small buffer conceals what fits, in whole 2.5 ms.
	n, err = dec.DecodeLost(make([]int16, 500))
	if err != nil || n != 480 {
		t.Fatalf("PLC into 500 samples: %d, %v; want 480", n, err)
	}
	if _, err := dec.DecodeLost(make([]int16, 10)); !errors.Is(err, ErrBufferSize) {
		t.Fatalf("PLC into 10 samples: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := NewDecoder(44100, 1); err == nil {
		t.Error("44.1 kHz accepted")
	}
	if _, err := NewDecoder(48000, 3); err == nil {
		t.Error("3 channels accepted")
	}
	dec, err := NewDecoder(48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, 2*MaxFrameSamples(48000))
	if _, err := dec.Decode(nil, pcm); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty packet: %v", err)
	}
	if _, err := dec.Decode([]byte{0xfc, 0xff, 0xff}, make([]int16, 1)); !errors.Is(err, ErrBufferSize) {
		t.Errorf("one-sample buffer for stereo: %v", err)
	}
	// Garbage never crashes; libopus reports an error or decodes noise.
	garbage := [][]byte{{0xff}, {0x03}, {0x03, 0xff, 0xff, 0xff}, make([]byte, 1500)}
	for _, g := range garbage {
		_, _ = dec.Decode(g, pcm)
	}
	var oe *Error
	if _, err := dec.Decode([]byte{0x03}, pcm); !errors.As(err, &oe) {
		t.Errorf("code 3 packet without a count byte: %v, want an *Error", err)
	} else if oe.Error() == "" {
		t.Error("empty error text")
	}
	// A 60 ms packet does not fit a 20 ms buffer.
	enc, _ := NewEncoder(48000, 2, VoIP)
	defer enc.Close()
	out := make([]byte, 1500)
	n, err := enc.Encode(make([]int16, 2*2880), out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Decode(out[:n], make([]int16, 2*960)); !errors.Is(err, ErrBufferSize) {
		t.Errorf("60 ms into 20 ms: %v", err)
	}
	if _, err := enc.Encode(make([]int16, 2*7), out); err == nil {
		t.Error("7-sample frame encoded")
	}

	dec.Close()
	dec.Close()
	if _, err := dec.Decode(out[:n], pcm); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := dec.DecodeLost(pcm); !errors.Is(err, ErrClosed) {
		t.Errorf("PLC after Close: %v", err)
	}
	enc.Close()
	if _, err := enc.Encode(pcm, out); !errors.Is(err, ErrClosed) {
		t.Errorf("encode after Close: %v", err)
	}
}

// kioskd's microphone settings (VoIP, 32 kbit/s, mono, 20 ms) with in-band
// FEC on and an expected loss, on voiced speech (synthetic.Voice): the
// voiced packets carry the frame before them (HasFEC), and a lost frame
// decodes from its successor's FEC as voice. Without FEC, or with no loss
// expected, no packet carries any.
func TestInbandFEC(t *testing.T) {
	encode := func(fec bool, loss int) [][]byte {
		enc, err := NewEncoder(48000, 1, VoIP)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		if err := enc.SetBitrate(32000); err != nil {
			t.Fatal(err)
		}
		if err := enc.SetInbandFEC(fec); err != nil {
			t.Fatal(err)
		}
		if err := enc.SetPacketLossPerc(loss); err != nil {
			t.Fatal(err)
		}
		voice := synthetic.Voice{SampleRate: 48000}
		pcm := make([]int16, 960)
		out := make([]byte, 1500)
		var pkts [][]byte
		for range 100 {
			voice.Fill(pcm)
			n, err := enc.Encode(pcm, out)
			if err != nil {
				t.Fatal(err)
			}
			pkts = append(pkts, append([]byte(nil), out[:n]...))
		}
		return pkts
	}
	count := func(pkts [][]byte) (n int) {
		for _, p := range pkts {
			if HasFEC(p) {
				n++
			}
		}
		return n
	}
	withFEC := encode(true, 5)
	// Syllables fill about half the time; each voiced packet after the
	// first of a syllable carries FEC.
	if n := count(withFEC); n < 30 {
		t.Errorf("FEC on, 5 %% loss expected: %d of 100 packets carry FEC", n)
	}
	for _, c := range []struct {
		fec  bool
		loss int
	}{{false, 5}, {true, 0}} {
		if n := count(encode(c.fec, c.loss)); n != 0 {
			t.Errorf("FEC %v, %d %% loss expected: %d packets carry FEC", c.fec, c.loss, n)
		}
	}
	if HasFEC(nil) || HasFEC([]byte{0xf8}) { // empty; a CELT-only TOC
		t.Error("HasFEC true for a packet without SILK")
	}

	// A voiced packet lost: decoded from its successor's FEC, then the
	// successor itself.
	// The middle of a syllable: a run of five packets with FEC.
	lost := -1
	for i := 10; i < len(withFEC)-3 && lost < 0; i++ {
		if HasFEC(withFEC[i-2]) && HasFEC(withFEC[i-1]) && HasFEC(withFEC[i]) && HasFEC(withFEC[i+1]) && HasFEC(withFEC[i+2]) {
			lost = i
		}
	}
	if lost < 0 {
		t.Fatal("no five packets with FEC in a row")
	}
	// What the frame decodes to when it is not lost.
	ref, err := NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	refPCM := make([]int16, MaxFrameSamples(48000))
	for _, p := range withFEC[:lost+1] {
		if _, err := ref.Decode(p, refPCM); err != nil {
			t.Fatal(err)
		}
	}
	want := analysis.RMSDBFS(refPCM[:960])
	dec, err := NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm := make([]int16, MaxFrameSamples(48000))
	for _, p := range withFEC[:lost] {
		if _, err := dec.Decode(p, pcm); err != nil {
			t.Fatal(err)
		}
	}
	n, err := dec.DecodeFEC(withFEC[lost+1], pcm)
	if err != nil || n != 960 {
		t.Fatalf("DecodeFEC: %d samples, %v; want 960", n, err)
	}
	if lvl := analysis.RMSDBFS(pcm[:n]); math.Abs(lvl-want) > 6 {
		t.Errorf("the recovered frame is at %.1f dBFS, the frame itself at %.1f dBFS", lvl, want)
	}
	if n, err := dec.Decode(withFEC[lost+1], pcm); err != nil || n != 960 {
		t.Fatalf("decoding the packet after its FEC: %d, %v", n, err)
	}
	if _, err := dec.DecodeFEC(nil, pcm); !errors.Is(err, ErrEmpty) {
		t.Errorf("DecodeFEC of nothing: %v", err)
	}
}
