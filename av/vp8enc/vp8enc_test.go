package vp8enc

import (
	"bytes"
	"image"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/pion/mediadevices/pkg/codec/vpx"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
	"golang.org/x/sys/unix"

	"github.com/kioskd/kioskd/av/synthetic"
)

// frames makes an unpaced camera-like I420 sequence: a textured
// background with sensor-like grain that changes every frame, and a bright
// block moving across it, so the encoder has detail, noise and motion.
type frames struct {
	w, h  int
	n     int
	bg    []byte
	noise []byte
	img   *image.YCbCr
	limit int // 0: endless
	// pace, if set, releases frames at a camera's rate (rate control
	// works on time stamps; CPU is measured, not wall time).
	pace time.Duration
	next time.Time
}

func newFrames(w, h, limit int) *frames {
	f := &frames{w: w, h: h, limit: limit, bg: make([]byte, w*h), noise: make([]byte, w*h+4096),
		img: image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)}
	seed := uint32(1)
	for i := range f.bg {
		seed = seed*1664525 + 1013904223
		x, y := i%w, i/w
		f.bg[i] = byte(40 + x*80/w + y*60/h + int(seed>>27) + 20*((x/40+y/40)%2))
	}
	for i := range f.noise {
		seed = seed*1664525 + 1013904223
		f.noise[i] = byte(seed >> 29) // 0..7: grain
	}
	for i := range f.img.Cb {
		f.img.Cb[i] = 110
		f.img.Cr[i] = 140
	}
	return f
}

func (f *frames) Read() (image.Image, func(), error) {
	if f.limit > 0 && f.n >= f.limit {
		return nil, func() {}, io.EOF
	}
	if f.pace > 0 {
		if f.next.IsZero() {
			f.next = time.Now()
		}
		time.Sleep(time.Until(f.next))
		f.next = f.next.Add(f.pace)
	}
	f.n++
	off := (f.n * 1237) % 4096
	for i, v := range f.bg {
		f.img.Y[i] = v + f.noise[off+i]
	}
	x0 := (f.n * 6) % (f.w - 64)
	y0 := f.h/2 - 32 + (f.n%20 - 10)
	for y := y0; y < y0+64; y++ {
		row := f.img.Y[y*f.img.YStride:]
		for x := x0; x < x0+64; x++ {
			row[x] = 230
		}
	}
	return f.img, func() {}, nil
}

func media(w, h, fps int) prop.Media {
	return prop.Media{Video: prop.Video{Width: w, Height: h, FrameRate: float32(fps)}}
}

// frameReader hands one encoded frame per Read to mediadevices' decoder.
type frameReader struct{ frames [][]byte }

func (r *frameReader) Read(p []byte) (int, error) {
	if len(r.frames) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.frames[0])
	r.frames = r.frames[1:]
	return n, nil
}

// isKeyFrame reads the VP8 payload header (RFC 6386 9.1): bit 0 of the
// first byte is 0 for a key frame, which carries the start code 9d 01 2a
// and the 14-bit width and height.
func isKeyFrame(b []byte) (key bool, w, h int) {
	if len(b) < 10 || b[0]&1 != 0 || !bytes.Equal(b[3:6], []byte{0x9d, 0x01, 0x2a}) {
		return false, 0, 0
	}
	return true, int(b[6]) | int(b[7]&0x3f)<<8, int(b[8]) | int(b[9]&0x3f)<<8
}

// bothModes runs f with libvpx on the calling thread and on its own.
func bothModes(t *testing.T, f func(t *testing.T, ownThread bool)) {
	t.Run("calling-thread", func(t *testing.T) { f(t, false) })
	t.Run("own-thread", func(t *testing.T) { f(t, true) })
}

func TestEncodeDecodeAndKeyFrameOnRequest(t *testing.T) {
	bothModes(t, testEncodeDecodeAndKeyFrameOnRequest)
}

func testEncodeDecodeAndKeyFrameOnRequest(t *testing.T, ownThread bool) {
	const w, h, n = 320, 240, 30
	p, _ := NewParams()
	p.BitRate = 300_000
	p.OwnThread = ownThread
	// The frames come unpaced and the time stamps from their arrival, so
	// rate control would see a huge bitrate and drop frames as the
	// machine's load decides (12 of 30 once): this test is about encoding
	// and key frames, not about dropping.
	p.DropFrameThreshold = -1
	enc, err := p.BuildVideoEncoder(newFrames(w, h, n), media(w, h, 15))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	kf, ok := enc.Controller().(interface{ ForceKeyFrame() error })
	if !ok {
		t.Fatal("controller is not a KeyFrameController")
	}
	var out [][]byte
	keyAt := map[int]bool{}
	for i := 0; ; i++ {
		if i == 10 {
			if err := kf.ForceKeyFrame(); err != nil {
				t.Fatal(err)
			}
		}
		b, release, err := enc.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		release()
		if key, kw, kh := isKeyFrame(b); key {
			keyAt[len(out)] = true
			if kw != w || kh != h {
				t.Fatalf("key frame says %dx%d, want %dx%d", kw, kh, w, h)
			}
		}
		out = append(out, b)
	}
	if len(out) < n*9/10 {
		t.Fatalf("got %d frames of %d", len(out), n)
	}
	if !keyAt[0] {
		t.Fatal("first frame is not a key frame")
	}
	// The request made before the 11th Read makes that frame (or, if rate
	// control dropped it, the next one emitted) a key frame.
	found := false
	for i := 8; i <= 12 && i < len(out); i++ {
		if keyAt[i] {
			found = true
		}
	}
	if !found {
		t.Fatalf("no key frame after ForceKeyFrame; key frames at %v", keyAt)
	}
	if frames, keys := enc.(*Encoder).Stats(); frames != len(out) || keys < 2 {
		t.Fatalf("stats frames=%d keys=%d, emitted %d", frames, keys, len(out))
	}

	// Everything decodes with libvpx's decoder, at the right size.
	dec, err := vpx.NewDecoder(&frameReader{frames: out}, media(w, h, 15))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	decoded := 0
	for {
		img, _, err := dec.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("decode frame %d: %v", decoded, err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Fatalf("decoded %v", b)
		}
		decoded++
	}
	if decoded != len(out) {
		t.Fatalf("decoded %d of %d", decoded, len(out))
	}
}

func TestResolutionChangeAndClose(t *testing.T) { bothModes(t, testResolutionChangeAndClose) }

func testResolutionChangeAndClose(t *testing.T, ownThread bool) {
	p, _ := NewParams()
	p.OwnThread = ownThread
	src := newFrames(320, 240, 0)
	var r video.Reader = src
	enc, err := NewEncoder(r, media(320, 240, 15), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := enc.Read(); err != nil {
		t.Fatal(err)
	}
	// Switch the source to 160x120: the encoder restarts with a key frame.
	small := newFrames(160, 120, 0)
	enc.r = video.ToI420(small)
	b, _, err := enc.Read()
	if err != nil {
		t.Fatal(err)
	}
	if key, kw, kh := isKeyFrame(b); !key || kw != 160 || kh != 120 {
		t.Fatalf("after resize: key=%v %dx%d", key, kw, kh)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := enc.Read(); err != io.EOF {
		t.Fatalf("read after close: %v", err)
	}
}

// threadCPU is the CPU time (user+system) of the calling OS thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedSource accounts the CPU spent in its Read (making the frame, and
// waiting for the next 15 fps slot), so that it can be taken out of the
// encoder's figure.
type timedSource struct {
	video.Reader
	cpu time.Duration
}

func (s *timedSource) Read() (image.Image, func(), error) {
	c0 := threadCPU()
	img, release, err := s.Reader.Read()
	s.cpu += threadCPU() - c0
	return img, release, err
}

// benchmark encodes 640x480 frames at 500 kbit/s, delivered at 15 fps as a
// camera would (rate control depends on time stamps), and reports the CPU
// (user+system) the encoder spent per frame; ns/op is the frame period,
// not a cost.
//
// Two contents: "camera" (texture, per-frame sensor grain, a moving block)
// and "synthetic" (media/synthetic's colour bars with a sweeping bar, what
// `camera: test` and dpsim send).
func benchmark(b *testing.B, build func(video.Reader) (readCloser, error)) {
	b.Run("camera", func(b *testing.B) {
		src := newFrames(640, 480, 0)
		src.pace = time.Second / 15
		benchmarkSource(b, src, build)
	})
	b.Run("synthetic", func(b *testing.B) {
		src := synthetic.NewVideo(640, 480, 15)
		defer src.Close()
		benchmarkSource(b, src, build)
	})
}

func benchmarkSource(b *testing.B, raw video.Reader, build func(video.Reader) (readCloser, error)) {
	// libvpx encodes on the calling thread (g_threads 1, and mediadevices'
	// default): pin it and count that thread's CPU, minus the frames' making.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	src := &timedSource{Reader: raw}
	enc, err := build(src)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	// Warm up past the first key frame.
	for i := 0; i < 3; i++ {
		if _, _, err := enc.Read(); err != nil {
			b.Fatal(err)
		}
	}
	var bytes int
	b.ResetTimer()
	src.cpu = 0
	c0 := threadCPU()
	for i := 0; i < b.N; i++ {
		out, release, err := enc.Read()
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(out)
		release()
	}
	cpu := threadCPU() - c0 - src.cpu
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/frame")
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
}

type readCloser interface {
	Read() ([]byte, func(), error)
	Close() error
}

func BenchmarkVP8RealTime(b *testing.B) {
	benchmark(b, func(r video.Reader) (readCloser, error) {
		p, _ := NewParams()
		p.BitRate = 500_000
		return p.BuildVideoEncoder(r, media(640, 480, 15))
	})
}

func BenchmarkVP8Mediadevices(b *testing.B) {
	benchmark(b, func(r video.Reader) (readCloser, error) {
		p, err := vpx.NewVP8Params()
		if err != nil {
			return nil, err
		}
		p.BitRate = 500_000
		p.KeyFrameInterval = 45
		return p.BuildVideoEncoder(r, media(640, 480, 15))
	})
}

// TestMaxFrameRate: with a cap below the source's rate, frames that come
// sooner than the cap allows after the last encoded one are skipped (a
// 15 fps camera capped at 5 fps encodes every third frame); no cap, or a
// cap at or above the source's rate, encodes them all.
func TestMaxFrameRate(t *testing.T) {
	p, _ := NewParams()
	enc, err := NewEncoder(newFrames(320, 240, 0), media(320, 240, 15), p)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	now := time.Now()
	encoded := func(n int) int { // n frames of a 15 fps camera
		got := 0
		for range n {
			now = now.Add(time.Second / 15)
			if !enc.skip(now) {
				got++
			}
		}
		return got
	}
	if got := encoded(30); got != 30 {
		t.Fatalf("no cap: %d of 30 frames encoded", got)
	}
	enc.SetMaxFrameRate(5)
	if got := encoded(30); got != 10 {
		t.Fatalf("capped at 5 fps: %d of 30 frames of a 15 fps source encoded, want 10", got)
	}
	enc.SetMaxFrameRate(15)
	if got := encoded(30); got != 30 {
		t.Fatalf("capped at the source's rate: %d of 30 frames encoded", got)
	}
	enc.SetMaxFrameRate(0)
	if got := encoded(30); got != 30 {
		t.Fatalf("cap removed: %d of 30 frames encoded", got)
	}
}
