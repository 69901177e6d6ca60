// Package hwtest is a fake hw.System for tests: a directory stands in for
// /dev, so camera discovery, by-id paths and open errors run through hw's
// real code, and each plugged camera streams paced synthetic frames. It
// lives apart from hw so production binaries do not carry it.
package hwtest

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kioskd/kioskd/hw"
)

// System is an hw.System for tests: a directory plays /dev (video nodes are
// plain files, /dev/v4l/by-id entries are symlinks to them, so path
// resolution is the real code's), and each plugged camera answers Query
// from its Caps and delivers paced synthetic frames. Cameras can be
// unplugged, replugged under another node, stalled, or made busy.
type System struct {
	dir string

	mu      sync.Mutex
	devs    map[string]*fakeDev // by node path
	streams map[*fakeStream]struct{}
	opens   map[string]int // by node path
	changed chan struct{}  // closed and replaced on every change
}

var _ hw.System = (*System)(nil)

// Camera describes a camera to plug into a System.
type Camera struct {
	Node string // node name under the fake /dev, e.g. "video0"
	ByID string // name under v4l/by-id, e.g. "usb-Acme_Cam_1234-video-index0"; "" for none
	Caps hw.Caps
	// FPS paces the frames a stream delivers; 0: 30.
	FPS int
}

type fakeDev struct {
	Camera
	stalled bool
	busy    bool
}

// New makes a fake /dev in dir (which must exist).
func New(dir string) *System {
	return &System{dir: dir, devs: map[string]*fakeDev{}, streams: map[*fakeStream]struct{}{},
		opens: map[string]int{}, changed: make(chan struct{})}
}

// UVCCaps are the capabilities of a typical USB webcam: YUYV and MJPEG at
// common sizes.
func UVCCaps(card string) hw.Caps {
	sizes := []hw.Size{{Width: 640, Height: 480}, {Width: 320, Height: 240}, {Width: 160, Height: 120}, {Width: 1280, Height: 720}}
	return hw.Caps{Card: card, Driver: "uvcvideo", Bus: "usb-0000:00:14.0-1", Capture: true, Formats: []hw.Format{
		{PixelFormat: hw.MJPEG, Description: "Motion-JPEG", Compressed: true, Sizes: sizes},
		{PixelFormat: hw.YUYV, Description: "YUYV 4:2:2", Sizes: sizes},
	}}
}

func (f *System) DevDir() string { return f.dir }

func (f *System) node(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(f.dir, name)
}

// notify wakes streams waiting for a state change. f.mu held.
func (f *System) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Plug adds a camera: creates its node and by-id link.
func (f *System) Plug(c Camera) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	node := f.node(c.Node)
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		return err
	}
	if c.ByID != "" {
		dir := filepath.Join(f.dir, "v4l", "by-id")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		link := filepath.Join(dir, c.ByID)
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join("..", "..", filepath.Base(node)), link); err != nil {
			return err
		}
	}
	f.devs[node] = &fakeDev{Camera: c}
	f.notify()
	return nil
}

// ByIDPath is the stable path of a by-id name in this fake.
func (f *System) ByIDPath(byID string) string { return filepath.Join(f.dir, "v4l", "by-id", byID) }

// Unplug removes a camera: its node and link vanish and its open streams
// fail on their next read, as after a USB disconnect.
func (f *System) Unplug(nodeName string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	node := f.node(nodeName)
	if d, ok := f.devs[node]; ok && d.ByID != "" {
		_ = os.Remove(filepath.Join(f.dir, "v4l", "by-id", d.ByID))
	}
	_ = os.Remove(node)
	delete(f.devs, node)
	f.notify()
}

// Stall makes a camera's streams stop (on) or resume delivering frames
// while the device stays present: reads time out.
func (f *System) Stall(nodeName string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.devs[f.node(nodeName)]; ok {
		d.stalled = on
	}
	f.notify()
}

// SetBusy makes Query and Open fail with EBUSY, as when another process
// holds the camera.
func (f *System) SetBusy(nodeName string, busy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.devs[f.node(nodeName)]; ok {
		d.busy = busy
	}
}

// Opens counts the streams ever opened on a node.
func (f *System) Opens(nodeName string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens[f.node(nodeName)]
}

// OpenStreams counts the streams open now (not yet closed).
func (f *System) OpenStreams() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams)
}

func (f *System) lookup(node string) (*fakeDev, error) {
	real, err := filepath.EvalSymlinks(node)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", hw.ErrMissing, node, err)
	}
	d, ok := f.devs[real]
	if !ok {
		return nil, fmt.Errorf("%w: %s: no such device", hw.ErrMissing, node)
	}
	if d.busy {
		return nil, fmt.Errorf("%w: %s: device or resource busy", hw.ErrBusy, node)
	}
	return d, nil
}

func (f *System) Query(node string) (hw.Caps, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.lookup(node)
	if err != nil {
		return hw.Caps{}, err
	}
	return d.Caps, nil
}

func (f *System) Open(node string, req hw.StreamRequest) (hw.Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.lookup(node)
	if err != nil {
		return nil, err
	}
	ok := false
	for _, fm := range d.Caps.Formats {
		if fm.PixelFormat != req.PixelFormat {
			continue
		}
		for _, s := range fm.Sizes {
			ok = ok || s == req.Size
		}
		if fm.Range != nil && fm.Range.Contains(req.Size) {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s does not offer %s %s", hw.ErrUnusable, node, req.PixelFormat, req.Size)
	}
	real, _ := filepath.EvalSymlinks(node)
	fps := d.FPS
	if fps <= 0 {
		fps = 30
	}
	s := &fakeStream{fake: f, node: real, period: time.Second / time.Duration(fps)}
	s.format, s.frame, err = fakeFrame(req.PixelFormat, req.Size)
	if err != nil {
		return nil, err
	}
	f.streams[s] = struct{}{}
	f.opens[real]++
	return s, nil
}

type fakeStream struct {
	fake   *System
	node   string
	period time.Duration
	format hw.StreamFormat
	frame  []byte

	next   time.Time
	n      int
	closed bool // under fake.mu
}

func (s *fakeStream) Format() hw.StreamFormat { return s.format }

// ReadFrame delivers frames paced at the camera's rate; fails with
// hw.ErrMissing once unplugged and hw.ErrTimeout while stalled.
func (s *fakeStream) ReadFrame(dst []byte, timeout time.Duration) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if s.next.IsZero() {
		s.next = time.Now()
	}
	for {
		s.fake.mu.Lock()
		if s.closed {
			s.fake.mu.Unlock()
			return 0, errors.New("hw: stream closed")
		}
		d, present := s.fake.devs[s.node]
		changed := s.fake.changed
		stalled := present && d.stalled
		s.fake.mu.Unlock()
		if !present {
			return 0, fmt.Errorf("%w: %s: No such device (unplugged)", hw.ErrMissing, s.node)
		}
		var due <-chan time.Time
		var t *time.Timer
		if !stalled {
			wait := time.Until(s.next)
			if wait <= 0 {
				s.next = s.next.Add(s.period)
				if time.Until(s.next) < -s.period {
					s.next = time.Now().Add(s.period) // fell behind: don't burst
				}
				s.n++
				n := copy(dst, s.frame)
				if len(dst) > 0 && s.format.PixelFormat.Raw() {
					dst[0] = byte(s.n) // the frames differ
				}
				return n, nil
			}
			t = time.NewTimer(wait)
			due = t.C
		}
		timedOut := false
		select {
		case <-due:
		case <-changed:
		case <-deadline.C:
			timedOut = true
		}
		if t != nil {
			t.Stop()
		}
		if timedOut {
			return 0, fmt.Errorf("%w (%s, %v)", hw.ErrTimeout, s.node, timeout)
		}
	}
}

func (s *fakeStream) Close() error {
	s.fake.mu.Lock()
	defer s.fake.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	delete(s.fake.streams, s)
	s.fake.notify()
	return nil
}

// fakeFrame makes one frame of mid-grey with a bright square, in format pf.
func fakeFrame(pf hw.PixelFormat, sz hw.Size) (hw.StreamFormat, []byte, error) {
	w, h := sz.Width, sz.Height
	sf := hw.StreamFormat{PixelFormat: pf, Size: sz}
	lum := func(x, y int) byte {
		if x > w/4 && x < w/2 && y > h/4 && y < h/2 {
			return 220
		}
		return 100
	}
	switch pf {
	case hw.YUYV, hw.UYVY:
		b := make([]byte, w*h*2)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x += 2 {
				i := y*w*2 + x*2
				if pf == hw.YUYV {
					b[i], b[i+1], b[i+2], b[i+3] = lum(x, y), 128, lum(x+1, y), 128
				} else {
					b[i], b[i+1], b[i+2], b[i+3] = 128, lum(x, y), 128, lum(x+1, y)
				}
			}
		}
		sf.BytesPerLine, sf.ImageSize = w*2, len(b)
		return sf, b, nil
	case hw.NV12, hw.NV21, hw.I420:
		b := make([]byte, w*h*3/2)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				b[y*w+x] = lum(x, y)
			}
		}
		for i := w * h; i < len(b); i++ {
			b[i] = 128
		}
		sf.BytesPerLine, sf.ImageSize = w, len(b)
		return sf, b, nil
	case hw.MJPEG, hw.JPEG:
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				img.Y[y*img.YStride+x] = lum(x, y)
			}
		}
		for i := range img.Cb {
			img.Cb[i], img.Cr[i] = 128, 128
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
			return sf, nil, err
		}
		sf.ImageSize = w * h * 2
		return sf, buf.Bytes(), nil
	}
	return sf, nil, fmt.Errorf("%w: fake camera cannot make %s", hw.ErrUnusable, pf)
}
