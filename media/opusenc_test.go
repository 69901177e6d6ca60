package media

import (
	"math"
	"testing"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"

	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/synthetic"
)

// voiceReader is synthetic voiced speech (synthetic.Voice) at 48 kHz, mono, in
// chunks of 10 ms, as int16 or float32 samples.
func voiceReader(float bool) audio.Reader {
	v := synthetic.Voice{SampleRate: 48000}
	return audio.ReaderFunc(func() (wave.Audio, func(), error) {
		info := wave.ChunkInfo{Len: 480, Channels: 1, SamplingRate: 48000}
		i16 := wave.NewInt16Interleaved(info)
		v.Fill(i16.Data)
		if !float {
			return i16, func() {}, nil
		}
		f32 := wave.NewFloat32Interleaved(info)
		for j, s := range i16.Data {
			f32.Data[j] = float32(s) / math.MaxInt16
		}
		return f32, func() {}, nil
	})
}

// The microphone's encoder (av/opus, not mediadevices'): 20 ms packets of
// a voice, no FEC in them while no loss is expected, FEC in the voiced
// ones once congestion control reports loss (SetExpectedLoss), from int16
// and float32 microphones alike.
func TestOpusEncoderFEC(t *testing.T) {
	for _, float := range []bool{false, true} {
		p := opusParams{}
		p.BitRate = 32000
		rc, err := p.BuildAudioEncoder(voiceReader(float), prop.Media{Audio: prop.Audio{SampleRate: 48000, ChannelCount: 1}})
		if err != nil {
			t.Fatal(err)
		}
		lc, ok := rc.Controller().(interface{ SetExpectedLoss(int) error })
		if _, br := rc.Controller().(codec.BitRateController); !ok || !br {
			t.Fatal("the Opus encoder's controller has no SetExpectedLoss or SetBitRate")
		}
		dec, err := opus.NewDecoder(48000, 1)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, opus.MaxFrameSamples(48000))
		var decoded []int16
		fec := func(packets int) (n int) {
			for range packets {
				pkt, _, err := rc.Read()
				if err != nil {
					t.Fatal(err)
				}
				if opus.HasFEC(pkt) {
					n++
				}
				m, err := dec.Decode(pkt, pcm)
				if err != nil || m != 960 {
					t.Fatalf("decoding: %d samples, %v; want 20 ms", m, err)
				}
				decoded = append(decoded, pcm[:m]...)
			}
			return n
		}
		if n := fec(50); n != 0 {
			t.Errorf("float %v: %d of 50 packets carry FEC with no loss expected", float, n)
		}
		if err := lc.SetExpectedLoss(5); err != nil {
			t.Fatal(err)
		}
		if n := fec(100); n < 30 {
			t.Errorf("float %v: %d of 100 packets carry FEC with 5 %% loss expected, want the voiced ones", float, n)
		}
		if lvl := analysis.RMSDBFS(decoded); lvl < -30 {
			t.Errorf("float %v: decoded at %.1f dBFS: not the voice", float, lvl)
		}
		dec.Close()
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rc.Read(); err == nil {
			t.Error("Read after Close succeeded")
		}
		if err := lc.SetExpectedLoss(1); err == nil {
			t.Error("SetExpectedLoss after Close succeeded")
		}
	}
}
