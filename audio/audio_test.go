package audio

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/av/analysis"
	"github.com/pion/mediadevices/pkg/wave"
)

// alsaEnv writes a test ALSA config (mic reads micFile, spk writes
// spkFile) and points libasound at it for this test.
func alsaEnv(t *testing.T, micFile, spkFile string) {
	t.Helper()
	conf, err := audiotest.WriteConfig(t.TempDir(), "mic", micFile, "spk", spkFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
}

func readChunks(t *testing.T, m *Microphone, n int) []int16 {
	t.Helper()
	var all []int16
	for i := 0; i < n; i++ {
		a, release, err := m.Read()
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		pcm, ok := a.(*wave.Int16Interleaved)
		if !ok || pcm.Size.Len != ChunkFrames || pcm.Size.Channels != 1 || pcm.Size.SamplingRate != SampleRate {
			t.Fatalf("chunk %d: %T %+v", i, a, a.ChunkInfo())
		}
		all = append(all, pcm.Data...)
		release()
	}
	return all
}

func TestMicrophoneCapturesToneThroughALSA(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.raw")
	if err := audiotest.WriteToneFile(tone, 440, 1); err != nil {
		t.Fatal(err)
	}
	alsaEnv(t, tone, filepath.Join(dir, "out.raw"))
	m, err := OpenMicrophone(MicrophoneConfig{PCM: "mic"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pcm := readChunks(t, m, 25) // 0.5 s, counted in samples
	if hz := analysis.DominantHz(pcm, SampleRate); math.Abs(hz-440) > 10 {
		t.Fatalf("dominant %.1f Hz, want 440", hz)
	}
	if db := analysis.RMSDBFS(pcm); db < -12 {
		t.Fatalf("level %.1f dBFS: the tone did not come through", db)
	}
	if s := m.Stats(); s.Chunks != 25 || s.Frames < int64(25*ChunkFrames) {
		t.Fatalf("stats %+v", s)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Read(); err == nil {
		t.Fatal("read after close succeeded")
	}
	m.Close()
}

func TestMicrophoneMissingThenAppears(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "later.raw")
	alsaEnv(t, tone, filepath.Join(dir, "out.raw"))
	// An undefined PCM and a `file` PCM whose input does not exist yet
	// are both a missing microphone.
	for _, pcm := range []string{"nosuchpcm", "mic"} {
		if _, err := OpenMicrophone(MicrophoneConfig{PCM: pcm}); !errors.Is(err, ErrMissing) {
			t.Fatalf("%s: %v, want ErrMissing", pcm, err)
		}
	}
	if err := audiotest.WriteToneFile(tone, 440, 0.5); err != nil {
		t.Fatal(err)
	}
	m, err := OpenMicrophone(MicrophoneConfig{PCM: "mic"})
	if err != nil {
		t.Fatalf("after the device appeared: %v", err)
	}
	readChunks(t, m, 3)
	m.Close()
}

func TestMicrophoneDefinedLater(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.raw")
	if err := audiotest.WriteToneFile(tone, 440, 0.5); err != nil {
		t.Fatal(err)
	}
	// First a config without the PCM...
	conf, err := audiotest.WriteConfig(dir, "", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	if _, err := OpenMicrophone(MicrophoneConfig{PCM: "mic"}); !errors.Is(err, ErrMissing) {
		t.Fatalf("undefined: %v", err)
	}
	// ...then the integrator adds it (libasound reloads a changed file).
	if _, err := audiotest.WriteConfig(dir, "mic", tone, "", ""); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(conf, later, later)
	m, err := OpenMicrophone(MicrophoneConfig{PCM: "mic"})
	if err != nil {
		t.Fatalf("after defining it: %v", err)
	}
	readChunks(t, m, 2)
	m.Close()
}

func TestPlayerPlaysVoiceIntoFilePCM(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "speaker.raw")
	alsaEnv(t, filepath.Join(dir, "none.raw"), out)
	p, err := OpenPlayer(PlayerConfig{PCM: "spk"})
	if err != nil {
		t.Fatal(err)
	}
	// 1 s of an 880 Hz voice in 20 ms chunks, fed as the network would:
	// whenever the buffer is at or below its target.
	chunk := make([]int16, ChunkFrames)
	phase := 0.0
	const chunks = 50
	for i := 0; i < chunks; i++ {
		for j := range chunk {
			chunk[j] = int16(0.4 * 32767 * math.Sin(phase))
			phase += 2 * math.Pi * 880 / SampleRate
		}
		if err := p.Write(chunk); err != nil {
			t.Fatal(err)
		}
		for p.Stats().Buffered > 3*ChunkFrames {
			time.Sleep(time.Millisecond)
		}
	}
	// Let it drain (counting samples), then close to flush the file.
	for deadline := time.Now().Add(10 * time.Second); p.Stats().Buffered > 0 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	st := p.Stats()
	p.Close()
	p.Close()
	if st.Written != int64(chunks*ChunkFrames) || st.Played+int64(st.Buffered)+st.Dropped != st.Written {
		t.Fatalf("stats %+v", st)
	}
	if st.Played < st.Written*9/10 {
		t.Fatalf("played %d of %d", st.Played, st.Written)
	}
	pcm, err := audiotest.ReadRawFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var voiced []int16
	for _, s := range pcm {
		if s != 0 {
			voiced = append(voiced, s)
		}
	}
	if len(voiced) < int(st.Played)*9/10 {
		t.Fatalf("speaker file has %d non-zero samples, played %d", len(voiced), st.Played)
	}
	if hz := analysis.DominantHz(voiced, SampleRate); math.Abs(hz-880) > 10 {
		t.Fatalf("speaker dominant %.1f Hz, want 880", hz)
	}
	t.Logf("speaker: %+v, file %d samples", st, len(pcm))
}

func TestPlayerMissingSpeaker(t *testing.T) {
	dir := t.TempDir()
	alsaEnv(t, "", filepath.Join(dir, "out.raw"))
	if _, err := OpenPlayer(PlayerConfig{PCM: "nosuchspeaker"}); !errors.Is(err, ErrMissing) {
		t.Fatalf("%v", err)
	}
}

func TestJitterBuffer(t *testing.T) {
	j := newJitter(3*ChunkFrames, 6*ChunkFrames)
	out := make([]int16, ChunkFrames/2)
	chunk := make([]int16, ChunkFrames)
	for i := range chunk {
		chunk[i] = 1
	}
	// Prebuffering: silence until the target is reached, no underrun.
	j.push(chunk)
	j.push(chunk)
	if j.pull(out) || out[0] != 0 || j.playing {
		t.Fatal("played before target")
	}
	j.push(chunk)
	if j.pull(out) || out[0] != 1 || !j.playing {
		t.Fatal("did not start at target")
	}
	// Drain: 3 chunks = 6 pulls of half a chunk; the 6th was the first above.
	for i := 0; i < 5; i++ {
		if j.pull(out) {
			t.Fatalf("underrun at pull %d", i)
		}
	}
	// Dry: one underrun for the burst, however long it lasts.
	if !j.pull(out) || out[0] != 0 {
		t.Fatal("no underrun when dry")
	}
	for i := 0; i < 10; i++ {
		if j.pull(out) {
			t.Fatal("underrun counted twice in one burst")
		}
	}
	if j.stats.Underruns != 1 {
		t.Fatalf("underruns %d", j.stats.Underruns)
	}
	// A tail short of the target is played once it waited a target's time.
	j.push(chunk[:ChunkFrames/2])
	for i := 0; i < 6; i++ {
		if j.pull(out); out[0] != 0 {
			t.Fatalf("tail played after %d pulls, before waiting", i)
		}
	}
	j.pull(out)
	if out[0] != 1 || j.n != 0 {
		t.Fatal("tail not flushed")
	}
	j.pull(out) // dry again: a second burst
	if j.stats.Underruns != 2 {
		t.Fatalf("underruns %d", j.stats.Underruns)
	}
	// Overflow: a burst past the limit drops the oldest down to the target.
	for i := 0; i < 7; i++ {
		j.push(chunk)
	}
	if j.n != 3*ChunkFrames || j.stats.Dropped != int64(4*ChunkFrames) {
		t.Fatalf("after overflow n=%d dropped=%d", j.n, j.stats.Dropped)
	}
	if j.stats.Played+int64(j.n)+j.stats.Dropped != j.stats.Written {
		t.Fatalf("accounting %+v n=%d", j.stats, j.n)
	}
}
