package audiotest_test

import (
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/wave"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/av/analysis"
)

// What audiotest promises, checked against kioskd's real ALSA code: the
// microphone PCM captures the raw file (a missing file is a missing
// microphone), the speaker PCM writes what is played, and the raw files
// are 16-bit mono at the rate kioskd uses.

func TestSampleRateIsAudios(t *testing.T) {
	if audiotest.SampleRate != audio.SampleRate {
		t.Fatalf("audiotest.SampleRate %d, audio.SampleRate %d", audiotest.SampleRate, audio.SampleRate)
	}
}

func TestToneFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tone.raw")
	if err := audiotest.WriteToneFile(path, 1000, 0.25); err != nil {
		t.Fatal(err)
	}
	pcm, err := audiotest.ReadRawFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) != audiotest.SampleRate/4 {
		t.Fatalf("%d samples, want %d", len(pcm), audiotest.SampleRate/4)
	}
	peak := 0
	for _, s := range pcm {
		peak = max(peak, int(s), -int(s))
	}
	if peak < 16000 || peak > 16384 {
		t.Fatalf("peak %d, want half of full scale", peak)
	}
	if hz := analysis.DominantHz(pcm, audiotest.SampleRate); math.Abs(hz-1000) > 10 {
		t.Fatalf("dominant %.1f Hz, want 1000", hz)
	}
}

func TestMicrophoneCapturesTheFile(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.raw")
	if err := audiotest.WriteToneFile(tone, 440, 1); err != nil {
		t.Fatal(err)
	}
	conf, err := audiotest.WriteConfig(dir, "mic", tone, "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	m, err := audio.OpenMicrophone(audio.MicrophoneConfig{PCM: "mic"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var got []int16
	for len(got) < audiotest.SampleRate/2 { // counted in samples: the PCM is unpaced
		a, release, err := m.Read()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.(*wave.Int16Interleaved).Data...)
		release()
	}
	if hz := analysis.DominantHz(got, audiotest.SampleRate); math.Abs(hz-440) > 10 {
		t.Fatalf("dominant %.1f Hz, want 440", hz)
	}
	// A sine at half of full scale: -6 dBFS (AES17).
	if db := analysis.RMSDBFS(got); math.Abs(db+6) > 1 {
		t.Fatalf("level %.1f dBFS, want -6", db)
	}
}

func TestMissingFileIsAMissingMicrophone(t *testing.T) {
	dir := t.TempDir()
	conf, err := audiotest.WriteConfig(dir, "mic", filepath.Join(dir, "absent.raw"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	for _, pcm := range []string{"mic", "spk"} { // spk: not defined in this config
		if _, err := audio.OpenMicrophone(audio.MicrophoneConfig{PCM: pcm}); !errors.Is(err, audio.ErrMissing) {
			t.Fatalf("%s: %v, want audio.ErrMissing", pcm, err)
		}
	}
}

func TestSpeakerWritesWhatIsPlayed(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "speaker.raw")
	conf, err := audiotest.WriteConfig(dir, "", "", "spk", out)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	const chunks = 25 // 0.5 s
	want := chunks * audio.ChunkFrames
	// The tap sees every block handed to the PCM. Once all the voice went
	// by (880 Hz at 48 kHz is exactly 0 every 300 samples: 80 of them) and then a few more
	// periods of silence, the periods holding the voice have left the
	// device's buffers for the file: closing then cannot cut the voice's
	// tail, however late the device thread runs on a loaded machine.
	var mu sync.Mutex
	voiced, after := 0, 0
	allPlayed := make(chan struct{})
	p, err := audio.OpenPlayer(audio.PlayerConfig{PCM: "spk", Max: time.Second, Tap: func(b []int16) {
		mu.Lock()
		defer mu.Unlock()
		if voiced >= want*99/100 {
			before := after
			after += len(b)
			if before < 10*audio.ChunkFrames && after >= 10*audio.ChunkFrames {
				close(allPlayed)
			}
			return
		}
		for _, s := range b {
			if s != 0 {
				voiced++
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]int16, audio.ChunkFrames)
	phase := 0.0
	for i := 0; i < chunks; i++ {
		for j := range chunk {
			chunk[j] = int16(0.4 * 32767 * math.Sin(phase))
			phase += 2 * math.Pi * 880 / audio.SampleRate
		}
		if err := p.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-allPlayed:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the player handed %d voiced samples of %d to the PCM", voiced, want)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	pcm, err := audiotest.ReadRawFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var nonzero []int16
	for _, s := range pcm {
		if s != 0 {
			nonzero = append(nonzero, s)
		}
	}
	if len(nonzero) < want*9/10 {
		t.Fatalf("speaker file has %d voiced samples of %d played", len(nonzero), want)
	}
	if hz := analysis.DominantHz(nonzero, audiotest.SampleRate); math.Abs(hz-880) > 10 {
		t.Fatalf("speaker dominant %.1f Hz, want 880", hz)
	}
}
