// Package analysis measures tones in 16-bit PCM: the dominant frequency of
// a signal (FFT with a Hann window and Gaussian interpolation of the peak)
// and the level of one frequency (Goertzel). dpsim uses it to check what a
// kiosk sends: the kiosk's own voice, and how much of the Digital Person's
// voice (its echo) comes back. Levels are in dBFS with the AES17
// convention: a full-scale sine is 0 dBFS.
package analysis

import (
	"math"
	"math/cmplx"
	"sync"
)

// MinDBFS is the floor of every level: silence and anything quieter read
// as MinDBFS (never -Inf, so levels stay valid JSON).
const MinDBFS = -120.0

const fullScale = 32768.0

// DominantHz returns the frequency of the strongest spectral peak of samples
// (mono, sampleRate Hz), or 0 for silence or fewer than 64 samples. For a
// pure tone over 0.5 s or more it is accurate to well within ±0.5 Hz (the
// Hann-windowed spectrum is zero-padded to a power of two and the peak is
// interpolated on a Gaussian through its three top bins). DC is removed
// first and nothing below 10 Hz counts as a peak.
func DominantHz(samples []int16, sampleRate int) float64 {
	sp, ok := newSpectrum(samples, sampleRate)
	if !ok {
		return 0
	}
	defer sp.release()
	return sp.dominantHz()
}

// BandLevelDBFS returns the level in dBFS of what samples (mono, sampleRate
// Hz) hold between lo and hi Hz: the amplitude of the one sine that would
// carry the same energy (Hann-windowed power spectrum, summed over the
// band), so a sine of amplitude 0.3 inside the band gives -10.5, as
// LevelDBFS does at its exact frequency. Unlike LevelDBFS it does not
// drop when the tone's phase jumps or its pitch wavers (a jitter buffer's
// concealment, a sound card's xrun): the energy stays in the band. Never
// below MinDBFS; MinDBFS for fewer than 64 samples.
func BandLevelDBFS(samples []int16, sampleRate int, lo, hi float64) float64 {
	sp, ok := newSpectrum(samples, sampleRate)
	if !ok {
		return MinDBFS
	}
	defer sp.release()
	return sp.bandLevelDBFS(lo, hi)
}

// DominantHzAndBandDBFS returns DominantHz and BandLevelDBFS of the same
// samples from one FFT (dpsim measures both twice a second per session).
func DominantHzAndBandDBFS(samples []int16, sampleRate int, lo, hi float64) (hz, bandDBFS float64) {
	sp, ok := newSpectrum(samples, sampleRate)
	if !ok {
		return 0, MinDBFS
	}
	defer sp.release()
	return sp.dominantHz(), sp.bandLevelDBFS(lo, hi)
}

// spectrum is the FFT of a block of samples, DC removed, Hann-windowed,
// zero-padded to a power of two.
type spectrum struct {
	bufp *[]complex128
	buf  []complex128
	rate int
	n    int     // samples (before padding)
	wsq  float64 // sum of the window's squares (the power scale)
}

func newSpectrum(samples []int16, sampleRate int) (*spectrum, bool) {
	n := len(samples)
	if n < 64 || sampleRate <= 0 {
		return nil, false
	}
	size := 1
	for size < n {
		size <<= 1
	}
	bufp := getBuf(size)
	buf := *bufp

	var mean float64
	for _, s := range samples {
		mean += float64(s)
	}
	mean /= float64(n)
	win := hannWindow(n)
	var wsq float64
	for i, s := range samples {
		buf[i] = complex((float64(s)-mean)*win[i], 0)
		wsq += win[i] * win[i]
	}
	for i := n; i < size; i++ {
		buf[i] = 0
	}
	fft(buf)
	return &spectrum{bufp: bufp, buf: buf, rate: sampleRate, n: n, wsq: wsq}, true
}

func (sp *spectrum) release() { putBuf(sp.bufp) }

func (sp *spectrum) dominantHz() float64 {
	buf, size := sp.buf, len(sp.buf)
	minBin := int(math.Ceil(10 * float64(size) / float64(sp.rate)))
	if minBin < 1 {
		minBin = 1
	}
	best, bestMag := -1, 0.0
	for k := minBin; k < size/2-1; k++ {
		if m := cmplx.Abs(buf[k]); m > bestMag {
			best, bestMag = k, m
		}
	}
	// Silence, or the rounding noise of an all-constant input.
	if best < 0 || bestMag < 1e-6*float64(sp.n) {
		return 0
	}
	a := math.Log(cmplx.Abs(buf[best-1]) + 1e-12)
	b := math.Log(bestMag)
	c := math.Log(cmplx.Abs(buf[best+1]) + 1e-12)
	delta := 0.0
	if den := a - 2*b + c; den < 0 {
		delta = 0.5 * (a - c) / den
		if delta > 0.5 {
			delta = 0.5
		} else if delta < -0.5 {
			delta = -0.5
		}
	}
	return (float64(best) + delta) * float64(sp.rate) / float64(size)
}

// bandLevelDBFS: by Parseval, a sine of amplitude A puts M·A²/4·Σw² of
// power into the positive-frequency bins of an M-point FFT.
func (sp *spectrum) bandLevelDBFS(lo, hi float64) float64 {
	size := len(sp.buf)
	kLo := max(1, int(math.Ceil(lo*float64(size)/float64(sp.rate))))
	kHi := min(size/2, int(math.Floor(hi*float64(size)/float64(sp.rate))))
	if kHi < kLo || sp.wsq == 0 {
		return MinDBFS
	}
	var pow float64
	for _, x := range sp.buf[kLo : kHi+1] {
		pow += real(x)*real(x) + imag(x)*imag(x)
	}
	return toDB(math.Sqrt(4*pow/(float64(size)*sp.wsq)) / fullScale)
}

// LevelDBFS returns the level in dBFS of the component of samples (mono,
// sampleRate Hz) at hz: the amplitude of a sine at exactly hz, measured
// with a Hann-windowed Goertzel filter, relative to full scale. A
// full-scale sine at hz gives 0; a sine of amplitude 0.3 gives -10.5;
// anything at least a few tens of Hz away (over 0.5 s or more) is
// attenuated by well over 60 dB. Never below MinDBFS.
func LevelDBFS(samples []int16, sampleRate int, hz float64) float64 {
	n := len(samples)
	if n < 2 || sampleRate <= 0 || hz <= 0 || hz >= float64(sampleRate)/2 {
		return MinDBFS
	}
	w := 2 * math.Pi * hz / float64(sampleRate)
	cosw, sinw := math.Cos(w), math.Sin(w)
	coeff := 2 * cosw
	var s1, s2, wsum float64
	win := hannWindow(n)
	for i, s := range samples {
		wsum += win[i]
		s0 := float64(s)*win[i] + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	re := s1 - s2*cosw
	im := s2 * sinw
	amp := 2 * math.Hypot(re, im) / wsum
	return toDB(amp / fullScale)
}

// RMSDBFS returns the overall level of samples in dBFS (AES17: the RMS
// relative to that of a full-scale sine, so a full-scale sine is 0).
func RMSDBFS(samples []int16) float64 {
	if len(samples) == 0 {
		return MinDBFS
	}
	var sum float64
	for _, s := range samples {
		sum += float64(s) * float64(s)
	}
	rms := math.Sqrt(sum / float64(len(samples)))
	return toDB(rms * math.Sqrt2 / fullScale)
}

func toDB(ratio float64) float64 {
	if ratio <= 0 {
		return MinDBFS
	}
	db := 20 * math.Log10(ratio)
	if db < MinDBFS || math.IsNaN(db) {
		return MinDBFS
	}
	return db
}

func hann(i, n int) float64 {
	if n < 2 {
		return 1
	}
	return 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
}

// Tables computed once per size: dpsim analyses every session's audio
// twice a second with the same window length, and a cosine per sample
// (and per butterfly) is most of the cost where floating point is slow
// (an emulated CPU, as in the VM system test).
var hannTables, twiddleTables sync.Map // size -> []float64 / []complex128

func hannWindow(n int) []float64 {
	if w, ok := hannTables.Load(n); ok {
		return w.([]float64)
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = hann(i, n)
	}
	hannTables.Store(n, w)
	return w
}

// twiddles returns exp(-2πik/n) for k < n/2.
func twiddles(n int) []complex128 {
	if t, ok := twiddleTables.Load(n); ok {
		return t.([]complex128)
	}
	t := make([]complex128, n/2)
	for k := range t {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		t[k] = complex(c, s)
	}
	twiddleTables.Store(n, t)
	return t
}

var bufPools sync.Map // size -> *sync.Pool of *[]complex128

func getBuf(size int) *[]complex128 {
	p, _ := bufPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]complex128, size)
		return &b
	}})
	return p.(*sync.Pool).Get().(*[]complex128)
}

func putBuf(b *[]complex128) {
	if p, ok := bufPools.Load(len(*b)); ok {
		p.(*sync.Pool).Put(b)
	}
}

// fft is an in-place iterative radix-2 FFT; len(x) is a power of two.
func fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	tw := twiddles(n)
	for size := 2; size <= n; size <<= 1 {
		half, stride := size>>1, n/size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				u := x[start+k]
				v := x[start+k+half] * tw[k*stride]
				x[start+k] = u + v
				x[start+k+half] = u - v
			}
		}
	}
}

// Ring keeps the most recent samples of a mono stream, for analysis over a
// rolling window. Not safe for concurrent use.
type Ring struct {
	buf  []int16
	next int
	full bool
}

// NewRing returns a ring holding the last capacity samples.
func NewRing(capacity int) *Ring {
	if capacity < 1 {
		capacity = 1
	}
	return &Ring{buf: make([]int16, capacity)}
}

// Write appends samples, forgetting the oldest beyond the capacity.
func (r *Ring) Write(samples []int16) {
	if len(samples) >= len(r.buf) {
		copy(r.buf, samples[len(samples)-len(r.buf):])
		r.next, r.full = 0, true
		return
	}
	n := copy(r.buf[r.next:], samples)
	if n < len(samples) {
		copy(r.buf, samples[n:])
		r.full = true
	}
	r.next = (r.next + len(samples)) % len(r.buf)
	if r.next == 0 && len(samples) > 0 {
		r.full = true
	}
}

// Len is the number of samples held.
func (r *Ring) Len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// Samples appends the held samples, oldest first, to dst and returns it.
func (r *Ring) Samples(dst []int16) []int16 {
	if !r.full {
		return append(dst, r.buf[:r.next]...)
	}
	dst = append(dst, r.buf[r.next:]...)
	return append(dst, r.buf[:r.next]...)
}

// Reset forgets everything.
func (r *Ring) Reset() { r.next, r.full = 0, false }
