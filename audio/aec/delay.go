package aec

import (
	"math"
	"math/cmplx"
)

// delayEstimator finds the lag of the echo in the microphone relative to
// the far-end reference: a generalised cross-correlation with PHAT-β
// weighting (GCC-PHAT) of both signals decimated to 8 kHz, over a window
// of a quarter second, with the cross-spectrum smoothed across updates so
// the estimate moves slowly and rides out double talk. Its confidence is
// how much the correlation peak stands out from the next-best lag more than
// 0.5 ms away: a stationary tone (one spectral line) correlates at every
// period alike and gives no estimate, which is right, as an adaptive
// filter cancels a tone at any lag.
type delayEstimator struct {
	dec    int // decimation factor to 8 kHz
	win    int // analysis window, decimated samples
	maxLag int // largest lag searched, decimated samples
	hop    int // decimated samples between updates
	lambda float64
	beta   float64
	minPow float64 // mean square (of a full-scale 1.0 signal) below which a window is silence
	guard  int     // decimated samples either side of the peak not counted as rival peaks

	accM, accR float64 // decimation accumulators
	accN       int
	mic, ref   []float64 // decimated histories: mic has win, ref has win+maxLag, newest last
	filled     int
	since      int

	n       int
	plan    *fftPlan
	buf     []complex128
	g       []complex128 // smoothed cross-spectrum, bins 0..n/2
	gxx     []float64    // smoothed auto-spectra of the microphone and the reference
	gyy     []float64
	updates int
	kLo     int
	kHi     int

	window []float64 // Hann window over the microphone's segment

	lag        int     // latest lag in input samples (valid when conf > 0)
	conf       float64 // peak over best rival peak
	peakToMean float64
}

func newDelayEstimator(rate int, maxLag float64) *delayEstimator {
	dec := rate / 8000
	if dec < 1 {
		dec = 1
	}
	dr := float64(rate) / float64(dec)
	d := &delayEstimator{
		dec:    dec,
		win:    2048,
		maxLag: int(maxLag * dr),
		hop:    int(0.1 * dr),
		lambda: 0.75,
		beta:   0.75,
		minPow: math.Pow(10, -60.0/10),
		guard:  int(0.0005 * dr),
	}
	d.mic = make([]float64, d.win)
	d.ref = make([]float64, d.win+d.maxLag)
	d.n = 1
	for d.n < d.win+d.maxLag {
		d.n <<= 1
	}
	d.plan = newFFT(d.n)
	d.buf = make([]complex128, d.n)
	d.g = make([]complex128, d.n/2+1)
	d.gxx = make([]float64, d.n/2+1)
	d.gyy = make([]float64, d.n/2+1)
	d.kLo = int(100 * float64(d.n) / dr)
	d.kHi = int(3800 * float64(d.n) / dr)
	d.window = make([]float64, d.win)
	for i := range d.window {
		d.window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(d.win-1))
	}
	return d
}

// push adds aligned microphone and reference samples (same length; ref is
// the reference at the same capture index) and reports whether a new
// estimate was made.
func (d *delayEstimator) push(mic, ref []int16) bool {
	var nm, nr []float64
	for i := range mic {
		d.accM += float64(mic[i])
		d.accR += float64(ref[i])
		d.accN++
		if d.accN == d.dec {
			s := 1 / (32768 * float64(d.dec))
			nm = append(nm, d.accM*s)
			nr = append(nr, d.accR*s)
			d.accM, d.accR, d.accN = 0, 0, 0
		}
	}
	if len(nm) == 0 {
		return false
	}
	shiftIn(d.mic, nm)
	shiftIn(d.ref, nr)
	d.filled += len(nm)
	d.since += len(nm)
	// The reference before the start reads as silence: estimate as soon
	// as the microphone's window is full.
	if d.filled < d.win || d.since < d.hop {
		return false
	}
	d.since = 0
	return d.update()
}

// minCoherence is the magnitude-squared coherence a bin needs to count
// (uncorrelated bins average about 1/7 with the smoothing used).
const minCoherence = 0.5

func abs2(c complex128) float64 { return real(c)*real(c) + imag(c)*imag(c) }

func shiftIn(h, x []float64) {
	if len(x) >= len(h) {
		copy(h, x[len(x)-len(h):])
		return
	}
	copy(h, h[len(x):])
	copy(h[len(h)-len(x):], x)
}

func meanSquare(x []float64) float64 {
	var e float64
	for _, v := range x {
		e += v * v
	}
	return e / float64(len(x))
}

func (d *delayEstimator) update() bool {
	// Only windows where the far end plays and the microphone hears
	// something say anything about the echo path.
	if meanSquare(d.ref[d.maxLag:]) < d.minPow || meanSquare(d.mic) < d.minPow {
		return false
	}
	n := d.n
	b := d.buf
	for i := range b {
		var re, im float64
		if i < d.win {
			re = d.mic[i] * d.window[i]
		}
		if i < len(d.ref) {
			im = d.ref[i]
		}
		b[i] = complex(re, im)
	}
	d.plan.transform(b, false)
	d.updates++
	lambda := d.lambda
	if f := float64(d.updates-1) / float64(d.updates); f < lambda {
		lambda = f // the first updates average with equal weight
	}
	for k := 0; k <= n/2; k++ {
		zk := b[k]
		zn := cmplx.Conj(b[(n-k)%n])
		x := (zk + zn) / 2
		y := (zk - zn) / complex(0, 2)
		d.g[k] = complex(lambda, 0)*d.g[k] + complex(1-lambda, 0)*cmplx.Conj(x)*y
		d.gxx[k] = lambda*d.gxx[k] + (1-lambda)*abs2(x)
		d.gyy[k] = lambda*d.gyy[k] + (1-lambda)*abs2(y)
	}
	for i := range b {
		b[i] = 0
	}
	// Only bins where the two signals are coherent count: a bin where
	// the microphone's noise meets the reference's rounding noise would,
	// once whitened, count as much as one carrying the echo, and many of
	// them make up a peak. (A tone whose coding noise comes back with it
	// is coherent over a wide band: its delay can be measured.)
	peak := 0.0
	for k := d.kLo; k <= d.kHi && k <= n/2; k++ {
		if m := abs2(d.g[k]); m > peak {
			peak = m
		}
	}
	floor := peak * 1e-12 // |G|^2: 60 dB in |G|
	for k := d.kLo; k <= d.kHi && k <= n/2; k++ {
		g := d.g[k]
		m2 := abs2(g)
		if m2 <= floor || m2 == 0 || m2 < minCoherence*d.gxx[k]*d.gyy[k] {
			continue
		}
		// |G|^-0.75, PHAT-β with β = 3/4: two square roots.
		m := math.Sqrt(m2)
		w := g / complex(m/math.Sqrt(math.Sqrt(m)), 0)
		b[k] = w
		if k > 0 && k < n/2 {
			b[n-k] = cmplx.Conj(w)
		}
	}
	d.plan.transform(b, true)
	best, bestV, sum := 0, -1.0, 0.0
	for tau := 0; tau <= d.maxLag; tau++ {
		v := math.Abs(real(b[tau]))
		sum += v
		if v > bestV {
			best, bestV = tau, v
		}
	}
	rival := 0.0
	for tau := 0; tau <= d.maxLag; tau++ {
		if tau >= best-d.guard && tau <= best+d.guard {
			continue
		}
		if v := math.Abs(real(b[tau])); v > rival {
			rival = v
		}
	}
	if bestV <= 0 {
		return false
	}
	d.conf = bestV / math.Max(rival, 1e-30)
	d.peakToMean = bestV / (sum / float64(d.maxLag+1))
	d.lag = (d.maxLag - best) * d.dec
	return true
}

func (d *delayEstimator) reset() {
	*d = *newDelayEstimatorLike(d)
}

func newDelayEstimatorLike(d *delayEstimator) *delayEstimator {
	c := *d
	c.mic = make([]float64, len(d.mic))
	c.ref = make([]float64, len(d.ref))
	c.g = make([]complex128, len(d.g))
	c.gxx = make([]float64, len(d.gxx))
	c.gyy = make([]float64, len(d.gyy))
	c.accM, c.accR, c.accN, c.filled, c.since, c.updates = 0, 0, 0, 0, 0, 0
	c.lag, c.conf, c.peakToMean = 0, 0, 0
	return &c
}
