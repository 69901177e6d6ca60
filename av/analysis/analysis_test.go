package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
)

func sine(hz, amplitude float64, rate int, d float64) []int16 {
	n := int(float64(rate) * d)
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amplitude * 32767 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)+0.3))
	}
	return out
}

func TestDominantHzPureTones(t *testing.T) {
	for _, rate := range []int{48000, 16000} {
		for _, d := range []float64{0.5, 1} {
			for _, hz := range []float64{100, 440, 880, 1000.5, 1234.56, 3000} {
				got := DominantHz(sine(hz, 0.3, rate, d), rate)
				if math.Abs(got-hz) > 0.5 {
					t.Errorf("rate %d, %.1f s, %.2f Hz: got %.3f", rate, d, hz, got)
				}
			}
		}
	}
}

func TestDominantHzWithNoiseAndASecondTone(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	x := sine(440, 0.3, 48000, 1)
	y := sine(880, 0.05, 48000, 1)
	for i := range x {
		x[i] += y[i] + int16(r.NormFloat64()*1000)
	}
	if got := DominantHz(x, 48000); math.Abs(got-440) > 2 {
		t.Fatalf("440 Hz under noise and a weaker 880 Hz: got %.2f", got)
	}
}

func TestDominantHzEdgeCases(t *testing.T) {
	if got := DominantHz(nil, 48000); got != 0 {
		t.Errorf("nil: %v", got)
	}
	if got := DominantHz(make([]int16, 48000), 48000); got != 0 {
		t.Errorf("silence: %v", got)
	}
	dc := make([]int16, 48000)
	for i := range dc {
		dc[i] = 5000
	}
	if got := DominantHz(dc, 48000); got != 0 {
		t.Errorf("DC only: %v", got)
	}
	if got := DominantHz(sine(440, 0.3, 48000, 1), 0); got != 0 {
		t.Errorf("rate 0: %v", got)
	}
}

func TestLevelDBFS(t *testing.T) {
	x := sine(880, 0.3, 48000, 1)
	want := 20 * math.Log10(0.3)
	if got := LevelDBFS(x, 48000, 880); math.Abs(got-want) > 0.3 {
		t.Errorf("880 Hz at 0.3: %.2f dBFS, want %.2f", got, want)
	}
	// Off frequency: the 440 Hz voice of a kiosk does not read as echo at 880.
	if got := LevelDBFS(sine(440, 0.3, 48000, 1), 48000, 880); got > -70 {
		t.Errorf("440 Hz measured at 880: %.1f dBFS, want < -70", got)
	}
	// A tone not on an FFT bin and over a window that is no whole number of periods.
	if got := LevelDBFS(sine(1000.37, 0.5, 48000, 0.513), 48000, 1000.37); math.Abs(got-20*math.Log10(0.5)) > 0.3 {
		t.Errorf("1000.37 Hz at 0.5: %.2f", got)
	}
	if got := LevelDBFS(make([]int16, 1000), 48000, 880); got != MinDBFS {
		t.Errorf("silence: %v", got)
	}
	if got := LevelDBFS(nil, 48000, 880); got != MinDBFS {
		t.Errorf("nil: %v", got)
	}
	if got := LevelDBFS(x, 48000, 30000); got != MinDBFS {
		t.Errorf("above Nyquist: %v", got)
	}
	if got := RMSDBFS(sine(1000, 1, 48000, 1)); math.Abs(got) > 0.1 {
		t.Errorf("RMS of a full-scale sine: %.2f, want 0", got)
	}
	if got := RMSDBFS(make([]int16, 10)); got != MinDBFS {
		t.Errorf("RMS of silence: %v", got)
	}
}

func TestRing(t *testing.T) {
	r := NewRing(5)
	if r.Len() != 0 || len(r.Samples(nil)) != 0 {
		t.Fatal("new ring not empty")
	}
	r.Write([]int16{1, 2, 3})
	if got := r.Samples(nil); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("got %v", got)
	}
	r.Write([]int16{4, 5, 6, 7})
	if got := r.Samples(nil); len(got) != 5 || got[0] != 3 || got[4] != 7 {
		t.Fatalf("after wrap: %v", got)
	}
	r.Write([]int16{10, 11, 12, 13, 14, 15, 16})
	if got := r.Samples(nil); len(got) != 5 || got[0] != 12 || got[4] != 16 {
		t.Fatalf("after overflow: %v", got)
	}
	r.Write([]int16{20, 21})
	if got := r.Samples(nil); got[0] != 14 || got[4] != 21 {
		t.Fatalf("after more: %v", got)
	}
	r2 := NewRing(4)
	r2.Write([]int16{1, 2})
	r2.Write([]int16{3, 4})
	if got := r2.Samples(nil); r2.Len() != 4 || got[0] != 1 || got[3] != 4 {
		t.Fatalf("exactly full: %v", got)
	}
	r2.Reset()
	if r2.Len() != 0 {
		t.Fatal("reset")
	}
}

func BenchmarkDominantHz1s(b *testing.B) {
	x := sine(440, 0.3, 48000, 1)
	for b.Loop() {
		DominantHz(x, 48000)
	}
}

// A tone whose phase jumps every 100 ms (what a jitter buffer's
// concealment or an xrun does to a steady tone): the band level stays at
// the tone's level, where the Goertzel at the exact frequency reads low.
func TestBandLevelDBFS(t *testing.T) {
	x := sine(880, 0.3, 48000, 1)
	if got := BandLevelDBFS(x, 48000, 792, 968); math.Abs(got-(-10.5)) > 0.2 {
		t.Fatalf("steady 880 Hz at 0.3: %.2f dBFS, want -10.5", got)
	}
	jumpy := make([]int16, 48000)
	phase := 0.0
	for i := range jumpy {
		if i%4800 == 0 {
			phase += 2.1 // a jump of about 120 degrees
		}
		jumpy[i] = int16(math.Round(0.3 * 32767 * math.Sin(2*math.Pi*880*float64(i)/48000+phase)))
	}
	band, bin := BandLevelDBFS(jumpy, 48000, 792, 968), LevelDBFS(jumpy, 48000, 880)
	if math.Abs(band-(-10.5)) > 1 {
		t.Errorf("phase-jumping 880 Hz at 0.3: band %.2f dBFS, want -10.5 +- 1", band)
	}
	if bin > band-3 {
		t.Logf("note: the Goertzel read %.1f dBFS, not much below the band's %.1f", bin, band)
	}
	if got := BandLevelDBFS(sine(440, 0.3, 48000, 1), 48000, 792, 968); got > -70 {
		t.Errorf("440 Hz outside the band: %.1f dBFS, want < -70", got)
	}
	hz, db := DominantHzAndBandDBFS(x, 48000, 792, 968)
	if math.Abs(hz-880) > 0.5 || math.Abs(db-(-10.5)) > 0.2 {
		t.Errorf("DominantHzAndBandDBFS: %.2f Hz %.2f dBFS", hz, db)
	}
	if got := BandLevelDBFS(make([]int16, 48000), 48000, 792, 968); got != MinDBFS {
		t.Errorf("silence: %v", got)
	}
	if got := BandLevelDBFS(x[:10], 48000, 792, 968); got != MinDBFS {
		t.Errorf("10 samples: %v", got)
	}
}
