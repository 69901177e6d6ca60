package media

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/av/vp8enc"
)

// packets returns a read func over pkts, then io.EOF.
func packets(pkts []*rtp.Packet) func() (*rtp.Packet, error) {
	return func() (*rtp.Packet, error) {
		if len(pkts) == 0 {
			return nil, io.EOF
		}
		p := pkts[0]
		pkts = pkts[1:]
		return p, nil
	}
}

// voice encodes n 20 ms packets of an hz tone with libopus, as the DP sends.
func voice(t *testing.T, hz float64, n int) []*rtp.Packet {
	t.Helper()
	enc, err := opus.NewEncoder(48000, 1, opus.VoIP)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pcm := make([]int16, 960)
	phase := 0.0
	var out []*rtp.Packet
	for i := 0; i < n; i++ {
		synthetic.FillSine(pcm, hz, 0.4, 48000, &phase)
		buf := make([]byte, 1500)
		k, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(60000 + i),
			Timestamp: uint32(i * 960), SSRC: 1}, Payload: buf[:k]})
	}
	return out
}

// The DP's 880 Hz voice, decoded by libopus and played through the
// jitter buffer into a real ALSA `file` PCM: the speaker's samples are 880 Hz.
func TestSinkPlaysVoiceOnSpeaker(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "speaker.raw")
	alsaTestEnv(t, filepath.Join(dir, "none.raw"), out)
	s := NewSink(SinkConfig{Speaker: "spk"}, nil)
	pkts := voice(t, 880, 50)
	// One packet lost on the way (sequence gap): concealed, counted.
	pkts = append(pkts[:20], pkts[21:]...)
	// Feed at the pace the speaker takes them (counting samples).
	i := 0
	s.handleAudio(context.Background(), func() (*rtp.Packet, error) {
		if i >= len(pkts) {
			return nil, io.EOF
		}
		for s.player != nil && s.player.Stats().Buffered > 4*960 {
			time.Sleep(time.Millisecond)
		}
		i++
		return pkts[i-1], nil
	})
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Played < 49*960 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	st := s.Stats()
	s.Close()
	if st.AudioPackets != 49 || st.AudioLost != 1 || st.AudioDecodeErr != 0 || !st.SpeakerUp || st.Speaker != "spk" {
		t.Fatalf("stats %+v", st)
	}
	if st.Played < 49*960 {
		t.Fatalf("played %d samples", st.Played)
	}
	pcm, err := audiotest.ReadRawFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var voiced []int16
	for _, v := range pcm {
		if v != 0 {
			voiced = append(voiced, v)
		}
	}
	if len(voiced) < 40*960 {
		t.Fatalf("%d voiced samples on the speaker", len(voiced))
	}
	if hz := analysis.DominantHz(voiced, 48000); math.Abs(hz-880) > 10 {
		t.Fatalf("speaker plays %.1f Hz, want 880±10", hz)
	}
	if s.Stats().SpeakerUp {
		t.Fatal("speaker open after Close")
	}
}

func TestSinkSpeakerNoneAndMissing(t *testing.T) {
	dir := t.TempDir()
	alsaTestEnv(t, filepath.Join(dir, "none.raw"), filepath.Join(dir, "spk.raw"))
	s := NewSink(SinkConfig{Speaker: "none"}, nil)
	s.handleAudio(context.Background(), packets(voice(t, 880, 10)))
	if st := s.Stats(); st.AudioPackets != 10 || st.SpeakerUp || st.Played != 0 {
		t.Fatalf("none: %+v", st)
	}
	// A speaker that does not exist: the voice is counted, not played,
	// and the sink does not retry on every packet.
	s = NewSink(SinkConfig{Speaker: "nosuchspeaker", SpeakerRetry: time.Hour}, nil)
	s.handleAudio(context.Background(), packets(voice(t, 880, 10)))
	if st := s.Stats(); st.AudioPackets != 10 || st.SpeakerUp {
		t.Fatalf("missing: %+v", st)
	}
	s.Close()
}

func TestSinkCountsVideoFramesAndSize(t *testing.T) {
	p, _ := vp8enc.NewParams()
	p.BitRate = 200_000
	src := synthetic.NewVideo(320, 240, 100)
	defer src.Close()
	enc, err := vp8enc.NewEncoder(src, prop.Media{Video: prop.Video{Width: 320, Height: 240, FrameRate: 100}}, p)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pz := rtp.NewPacketizer(1200, 96, 7, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
	var pkts []*rtp.Packet
	for i := 0; i < 10; i++ {
		frame, _, err := enc.Read()
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, pz.Packetize(frame, 900)...)
	}
	s := NewSink(SinkConfig{Speaker: "none"}, nil)
	s.handleVideo(context.Background(), packets(pkts), nil)
	st := s.Stats()
	if st.VideoFrames != 10 || st.VideoKeyframes < 1 || st.Width != 320 || st.Height != 240 || st.VideoDropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSinkSpeakerHealth: a configured speaker is up until an open fails,
// then down (kioskd_device_up{device="speaker"} 0) until it opens.
func TestSinkSpeakerHealth(t *testing.T) {
	dir := t.TempDir()
	alsaTestEnv(t, filepath.Join(dir, "none.raw"), filepath.Join(dir, "spk.raw"))
	s := NewSink(SinkConfig{Speaker: "nosuchspeaker", SpeakerRetry: time.Hour}, nil)
	defer s.Close()
	if h := s.Health(); len(h) != 1 || h[0] != (DeviceHealth{"speaker", true}) {
		t.Fatalf("before the first voice: %v", h)
	}
	s.handleAudio(context.Background(), packets(voice(t, 880, 10)))
	if h := s.Health(); len(h) != 1 || h[0].Up {
		t.Fatalf("after a failed open: %v", h)
	}
}
