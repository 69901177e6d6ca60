// Package aectest simulates the acoustic path between a kiosk's speaker and
// its microphone without hardware, counting frames (never wall time), and
// measures what echo cancellation does to it: ERLE, convergence time, the
// level of the visitor's voice during double talk, and CPU per second of
// audio. audio/aec's tests, media's tests and `make bench-aec` use it.
package aectest

import (
	"math"
)

// Rate is the sample rate of every signal here (kioskd's).
const Rate = 48000

// Tone returns n samples of a sine at hz with peak amplitude amp (0..1 of
// full scale), starting at phase 0.
func Tone(n int, hz, amp float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = amp * math.Sin(2*math.Pi*hz*float64(i)/Rate)
	}
	return out
}

type rng struct{ s uint64 }

func (r *rng) u() float64 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float64(r.s>>11) / (1 << 53)
}

func (r *rng) gauss() float64 {
	a, b := r.u()+1e-12, r.u()
	return math.Sqrt(-2*math.Log(a)) * math.Cos(2*math.Pi*b)
}

// Speech returns n samples of a deterministic speech-like signal: syllables
// of 120-300 ms separated by short and long pauses, a glottal pulse train
// whose pitch glides between 100 and 220 Hz through three formant
// resonators, some fricative noise. Its RMS is amp/4 (a speech-like crest
// factor), clipped at ±0.99. Unlike a tone it has an envelope and a wide
// spectrum, so the delay between two copies of it is unambiguous.
func Speech(n int, seed uint64, amp float64) []float64 {
	out := make([]float64, n)
	r := &rng{s: seed}
	ph := 0.0
	for i := 0; i < n; {
		syl := int((0.12 + 0.18*r.u()) * Rate)
		pause := int(0.02 * Rate)
		if r.u() < 0.3 {
			pause = int((0.05 + 0.25*r.u()) * Rate)
		}
		f0a, f0b := 100+120*r.u(), 100+120*r.u()
		formants := [3]float64{300 + 500*r.u(), 900 + 1400*r.u(), 2200 + 1000*r.u()}
		fric := 0.0
		if r.u() < 0.25 {
			fric = 0.3
		}
		var y1, y2, a1, a2, g [3]float64
		for k := range formants {
			bw := 80 + 40*float64(k)
			R := math.Exp(-math.Pi * bw / Rate)
			a1[k] = 2 * R * math.Cos(2*math.Pi*formants[k]/Rate)
			a2[k] = -R * R
			g[k] = 1 - R
		}
		for j := 0; j < syl && i < n; j, i = j+1, i+1 {
			t := float64(j) / float64(syl)
			env := math.Sin(math.Pi * t)
			env *= env
			ph += (f0a + (f0b-f0a)*t) / Rate
			src := 0.0
			if ph >= 1 {
				ph--
				src = 1
			}
			src += fric * r.gauss() * 0.2
			s := 0.0
			for k := range formants {
				y := g[k]*src*8 + a1[k]*y1[k] + a2[k]*y2[k]
				y2[k], y1[k] = y1[k], y
				s += y / float64(k+1)
			}
			out[i] = s * env
		}
		i += pause
	}
	var e float64
	for _, v := range out {
		e += v * v
	}
	rms := math.Sqrt(e / float64(n))
	for i, v := range out {
		out[i] = math.Max(-0.99, math.Min(0.99, v/rms*amp/4))
	}
	return out
}

// ToInt16 converts to 16-bit samples.
func ToInt16(x []float64) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(math.Max(-32768, math.Min(32767, math.Round(v*32767))))
	}
	return out
}

// WhiteNoise returns n samples of Gaussian noise of RMS rms.
func WhiteNoise(n int, seed uint64, rms float64) []float64 {
	r := &rng{s: seed}
	out := make([]float64, n)
	for i := range out {
		out[i] = rms * r.gauss()
	}
	return out
}
