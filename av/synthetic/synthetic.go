// Package synthetic makes media without devices: a moving test pattern and
// a sine tone, as mediadevices sources. kioskd uses them for `camera: test`
// and `microphone: test` and in the demo; dpsim uses them for the Digital
// Person's face and voice.
package synthetic

import (
	"image"
	"io"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pion/mediadevices/pkg/wave"
)

// pacer releases one frame per period on the wall clock. Media is real
// time by nature; tests that must not wait count frames instead.
type pacer struct {
	period time.Duration
	next   time.Time
	closed chan struct{}
}

func newPacer(period time.Duration) *pacer {
	return &pacer{period: period, closed: make(chan struct{})}
}

// wait blocks until the next frame is due; false once closed.
func (p *pacer) wait() bool {
	now := time.Now()
	if p.next.IsZero() {
		p.next = now
	}
	if d := p.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-p.closed:
			t.Stop()
			return false
		}
	} else {
		select {
		case <-p.closed:
			return false
		default:
		}
		// Fell behind by more than a frame (a stalled process): skip
		// ahead instead of bursting to catch up.
		if -d > p.period {
			p.next = now
		}
	}
	p.next = p.next.Add(p.period)
	return true
}

// Video is a moving test pattern in I420, paced at FPS.
type Video struct {
	id            string
	width, height int
	pace          *pacer
	frame         int
	img           *image.YCbCr
	base          []uint8 // one luma row of the bars, without the sweep
	closeOnce     sync.Once
}

// NewVideo returns a test pattern source of the given size and rate.
func NewVideo(width, height, fps int) *Video {
	if fps <= 0 {
		fps = 15
	}
	v := &Video{
		id:    "synthetic-video-" + uuid.NewString()[:8],
		width: width, height: height,
		pace: newPacer(time.Second / time.Duration(fps)),
		img:  image.NewYCbCr(image.Rect(0, 0, width, height), image.YCbCrSubsampleRatio420),
		base: make([]uint8, width),
	}
	// The bars and the chroma never change: compute them once, so a frame
	// costs a copy per row (the CPU budget is the encoder's, not ours).
	for x := range v.base {
		v.base[x] = 16 + uint8(x*8/width)*28
	}
	img := v.img
	cw, ch := (width+1)/2, (height+1)/2
	for y := 0; y < ch; y++ {
		for x := 0; x < cw; x++ {
			img.Cb[y*img.CStride+x] = uint8(64 + (x*128)/cw)
			img.Cr[y*img.CStride+x] = uint8(64 + (y*128)/ch)
		}
	}
	return v
}

func (v *Video) ID() string { return v.id }

func (v *Video) Close() error {
	v.closeOnce.Do(func() { close(v.pace.closed) })
	return nil
}

// Read returns the next frame: colour bars with a bright bar sweeping
// across, so an encoder sees motion as it would from a camera.
func (v *Video) Read() (image.Image, func(), error) {
	if !v.pace.wait() {
		return nil, func() {}, io.EOF
	}
	v.frame++
	img := v.img
	sweep := (v.frame * 8) % v.width
	end := min(sweep+16, v.width)
	for y := 0; y < v.height; y++ {
		row := img.Y[y*img.YStride : y*img.YStride+v.width]
		copy(row, v.base)
		for x := sweep; x < end; x++ {
			row[x] = 235
		}
	}
	return img, func() {}, nil
}

// Tone is a sine wave of Hz as 16-bit mono chunks of Chunk duration, paced.
type Tone struct {
	id         string
	hz         float64
	amplitude  float64
	sampleRate int
	chunk      int
	phase      float64
	pace       *pacer
	closeOnce  sync.Once
}

// ChunkDuration is the audio chunk length, one Opus frame.
const ChunkDuration = 20 * time.Millisecond

// NewTone returns a sine source at hz (amplitude 0.3 of full scale).
func NewTone(hz float64, sampleRate int) *Tone {
	if sampleRate <= 0 {
		sampleRate = 48000
	}
	return &Tone{
		id: "synthetic-tone-" + uuid.NewString()[:8],
		hz: hz, amplitude: 0.3, sampleRate: sampleRate,
		chunk: sampleRate * int(ChunkDuration/time.Millisecond) / 1000,
		pace:  newPacer(ChunkDuration),
	}
}

// SetAmplitude sets the peak level, 0..1 of full scale (0 gives silence).
func (t *Tone) SetAmplitude(a float64) { t.amplitude = a }

func (t *Tone) ID() string { return t.id }

func (t *Tone) Close() error {
	t.closeOnce.Do(func() { close(t.pace.closed) })
	return nil
}

// Read returns the next chunk of the tone.
func (t *Tone) Read() (wave.Audio, func(), error) {
	if !t.pace.wait() {
		return nil, func() {}, io.EOF
	}
	a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: t.chunk, Channels: 1, SamplingRate: t.sampleRate})
	FillSine(a.Data, t.hz, t.amplitude, t.sampleRate, &t.phase)
	return a, func() {}, nil
}

// FillSine writes a sine of hz into buf, continuing from *phase (radians).
func FillSine(buf []int16, hz, amplitude float64, sampleRate int, phase *float64) {
	step := 2 * math.Pi * hz / float64(sampleRate)
	for i := range buf {
		buf[i] = int16(amplitude * 32767 * math.Sin(*phase))
		*phase += step
		if *phase > 2*math.Pi {
			*phase -= 2 * math.Pi
		}
	}
}

// Voice is a crude voiced-speech stand-in: a glottal pitch (140 Hz, with
// a slow 30 Hz sway) whose harmonics are shaped by formants near 700,
// 1200 and 2500 Hz, in syllables 2.5 times a second with silence between.
// libopus's analysis takes it for speech (a steady tone reads as music,
// and to SILK's voice detector as background noise), so it codes it in
// SILK with in-band FEC when loss is expected: what the FEC tests need.
type Voice struct {
	SampleRate int
	n          int
	phase      float64
	f0         float64
	amp        [25]float64 // the harmonics' amplitudes, per millisecond
}

// Fill writes the next len(buf) mono samples.
func (v *Voice) Fill(buf []int16) {
	rate := float64(v.SampleRate)
	for i := range buf {
		t := float64(v.n) / rate
		if v.n%(v.SampleRate/1000) == 0 { // the pitch and formants move slowly
			v.f0 = 140 + 30*math.Sin(2*math.Pi*0.7*t)
			for k := range v.amp {
				fk := float64(k+1) * v.f0
				v.amp[k] = (math.Exp(-math.Pow((fk-700)/300, 2)) + 0.5*math.Exp(-math.Pow((fk-1200)/300, 2)) +
					0.3*math.Exp(-math.Pow((fk-2500)/400, 2)) + 0.05) / float64(k+1)
			}
		}
		v.n++
		v.phase += 2 * math.Pi * v.f0 / rate
		var s float64
		for k, a := range v.amp {
			s += a * math.Sin(float64(k+1)*v.phase)
		}
		buf[i] = int16(0.2 * s * max(0, math.Sin(2*math.Pi*2.5*t)) * math.MaxInt16)
	}
}
