package aec

import "math"

// fftPlan is an in-place radix-2 complex FFT of one size, with its
// twiddles and bit-reversal table computed once.
type fftPlan struct {
	n   int
	rev []int
	tw  []complex128 // exp(-2πik/n), k < n/2
}

func newFFT(n int) *fftPlan {
	if n < 2 || n&(n-1) != 0 {
		panic("aec: FFT size must be a power of two")
	}
	p := &fftPlan{n: n, rev: make([]int, n), tw: make([]complex128, n/2)}
	bits := 0
	for 1<<bits < n {
		bits++
	}
	for i := range p.rev {
		r := 0
		for b := 0; b < bits; b++ {
			if i&(1<<b) != 0 {
				r |= 1 << (bits - 1 - b)
			}
		}
		p.rev[i] = r
	}
	for k := range p.tw {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		p.tw[k] = complex(c, s)
	}
	return p
}

// transform runs the forward FFT, or the inverse (unscaled) one.
func (p *fftPlan) transform(x []complex128, inverse bool) {
	n := p.n
	for i, r := range p.rev {
		if i < r {
			x[i], x[r] = x[r], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half := size >> 1
		step := n / size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				w := p.tw[k*step]
				if inverse {
					w = complex(real(w), -imag(w))
				}
				u := x[start+k]
				v := x[start+k+half] * w
				x[start+k] = u + v
				x[start+k+half] = u - v
			}
		}
	}
}
