// Package mediatest has a fake camera for tests of media.Source and of
// what runs it (the session, the daemon): a synthetic camera that can go
// missing, fail mid-stream and count its opens and closes. It lives apart
// from media so production binaries do not carry it.
package mediatest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/pion/mediadevices"

	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/media"
)

// Camera is a media.CameraOpener for tests: a synthetic camera that can be
// made missing, made to fail mid-stream on demand, and that counts opens
// and closes. Like mediadevices' drivers it refuses to open while a
// previous stream is still open, so a test proves each track was closed
// before its device was reopened.
type Camera struct {
	mu      sync.Mutex
	missing bool
	open    *flakySource
	opens   int
	closes  int
	double  int // Close calls on an already closed stream
	early   int // opens refused because a stream was still open
}

var _ media.CameraOpener = (*Camera)(nil)

// NewCamera returns a present, working camera.
func NewCamera() *Camera { return &Camera{} }

// ErrStillOpen is returned by Camera.OpenCamera when the previous
// stream was not closed.
var ErrStillOpen = errors.New("flaky camera: device still open")

// SetMissing makes the camera absent (opens fail with
// media.ErrDeviceMissing) or present again.
func (c *Camera) SetMissing(missing bool) {
	c.mu.Lock()
	c.missing = missing
	c.mu.Unlock()
}

// Fail makes the open stream's next Read fail with err (a lost device),
// and every Read after it until the stream is closed.
func (c *Camera) Fail(err error) {
	c.mu.Lock()
	if c.open != nil {
		c.open.failWith(err)
	}
	c.mu.Unlock()
}

// Counts reports opens, closes, closes of an already closed stream, and
// opens refused because a stream was still open.
func (c *Camera) Counts() (opens, closes, doubleCloses, refused int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens, c.closes, c.double, c.early
}

// IsOpen reports whether a stream is open now.
func (c *Camera) IsOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open != nil
}

// OpenCamera opens the synthetic camera at cfg's size and rate.
func (c *Camera) OpenCamera(ctx context.Context, cfg media.Config) (mediadevices.VideoSource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.missing {
		return nil, fmt.Errorf("%w: flaky camera unplugged", media.ErrDeviceMissing)
	}
	if c.open != nil {
		c.early++
		return nil, ErrStillOpen
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		w, h = 160, 120
	}
	c.opens++
	s := &flakySource{cam: c, Video: synthetic.NewVideo(w, h, cfg.FPS)}
	c.open = s
	return s, nil
}

type flakySource struct {
	*synthetic.Video
	cam *Camera

	mu     sync.Mutex
	err    error
	closed bool
}

func (s *flakySource) failWith(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *flakySource) Read() (image.Image, func(), error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, func() {}, err
	}
	return s.Video.Read()
}

func (s *flakySource) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	s.cam.mu.Lock()
	if already {
		s.cam.double++
	} else {
		s.cam.closes++
		if s.cam.open == s {
			s.cam.open = nil
		}
	}
	s.cam.mu.Unlock()
	return s.Video.Close()
}
