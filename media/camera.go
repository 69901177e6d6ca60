package media

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pion/mediadevices"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/hw"
)

// Device errors for CameraOpener and MicrophoneOpener implementations
// (hw's and audio's own errors are recognised too). Missing maps to
// noUserMedia, Unusable to notSupported.
var (
	ErrDeviceMissing  = errors.New("device missing")
	ErrDeviceUnusable = errors.New("device unusable")
)

// CameraOpener opens the camera a Config names (Camera is neither "",
// "none" nor "test").
type CameraOpener interface {
	OpenCamera(ctx context.Context, cfg Config) (mediadevices.VideoSource, error)
}

// MicrophoneOpener opens the microphone a Config names (Microphone is
// neither "", "none" nor "test").
type MicrophoneOpener interface {
	OpenMicrophone(ctx context.Context, cfg Config) (mediadevices.AudioSource, error)
}

// unusable reports whether err says the device exists but cannot be used.
func unusable(err error) bool {
	return errors.Is(err, ErrDeviceUnusable) || errors.Is(err, hw.ErrUnusable) || errors.Is(err, audio.ErrUnusable)
}

// V4L2Camera opens cameras found on a hw.System (hw.Linux() for the real
// /dev) by stable path, card name or `auto`, at the format hw chooses.
type V4L2Camera struct {
	System hw.System
	Log    *slog.Logger
	// FrameTimeout: a camera that delivers no frame for this long is lost
	// (mediaStreamFailed). 0: 2 s.
	FrameTimeout time.Duration
}

// OpenCamera finds and starts the camera.
func (v V4L2Camera) OpenCamera(ctx context.Context, cfg Config) (mediadevices.VideoSource, error) {
	sys := v.System
	if sys == nil {
		sys = hw.Linux()
	}
	want := hw.Size{Width: cfg.Width, Height: cfg.Height}
	cam, st, err := hw.Open(ctx, sys, cfg.Camera, want, cfg.FPS)
	if err != nil {
		return nil, err
	}
	f := st.Format()
	if v.Log != nil {
		v.Log.Info("camera open", "camera", cam.Path, "node", cam.Node, "card", cam.Card,
			"format", f.PixelFormat.String(), "size", f.Size.String())
	}
	timeout := v.FrameTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return newCameraSource(cam, st, timeout), nil
}

// cameraSource is a V4L2 stream as a mediadevices VideoSource, converting
// raw frames to I420 (MJPEG is decoded).
type cameraSource struct {
	id      string
	cam     hw.Camera
	st      hw.Stream
	f       hw.StreamFormat
	timeout time.Duration

	raw   []byte
	imgs  [4]*image.YCbCr // rotated: a frame stays valid while the next ones are read
	next  int
	first bool

	closeOnce sync.Once
	closed    chan struct{}
}

func newCameraSource(cam hw.Camera, st hw.Stream, timeout time.Duration) *cameraSource {
	f := st.Format()
	size := f.ImageSize
	if min := f.Size.Width * f.Size.Height * 2; size < min {
		size = min
	}
	s := &cameraSource{id: "v4l2-" + uuid.NewString()[:8], cam: cam, st: st, f: f, timeout: timeout,
		raw: make([]byte, size), first: true, closed: make(chan struct{})}
	return s
}

func (s *cameraSource) ID() string { return s.id }

// Read returns the next frame. No frame within the timeout (twice that for
// the first, as some UVC cameras take a moment to start) is an error: the
// camera is lost or hung.
func (s *cameraSource) Read() (image.Image, func(), error) {
	tmo := s.timeout
	if s.first {
		tmo *= 2
	}
	n, err := s.st.ReadFrame(s.raw, tmo)
	if err != nil {
		select {
		case <-s.closed:
			return nil, func() {}, io.EOF
		default:
		}
		return nil, func() {}, fmt.Errorf("camera %s: %w", s.cam.Path, err)
	}
	s.first = false
	if s.f.PixelFormat == hw.MJPEG || s.f.PixelFormat == hw.JPEG {
		img, err := decodeJPEG(s.raw[:n])
		if err != nil {
			return nil, func() {}, fmt.Errorf("camera %s: %w", s.cam.Path, err)
		}
		return img, func() {}, nil
	}
	img := s.imgs[s.next]
	if img == nil {
		img = image.NewYCbCr(image.Rect(0, 0, s.f.Size.Width, s.f.Size.Height), image.YCbCrSubsampleRatio420)
		s.imgs[s.next] = img
	}
	s.next = (s.next + 1) % len(s.imgs)
	if err := toI420(img, s.raw[:n], s.f); err != nil {
		return nil, func() {}, fmt.Errorf("camera %s: %w", s.cam.Path, err)
	}
	return img, func() {}, nil
}

// Close stops the stream; safe to call more than once.
func (s *cameraSource) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.st.Close()
	})
	return err
}

// ALSAMicrophone opens the PCM a Config names through audio (malgo, ALSA
// backend). media.microphone_pace releases audio no faster than real time,
// for PCMs that do not pace themselves (ALSA `file`/`null` in labs and tests).
type ALSAMicrophone struct {
	Log *slog.Logger
	// ReadTimeout: a microphone that delivers no samples for this long is
	// lost (mediaStreamFailed). 0: 1 s.
	ReadTimeout time.Duration
}

// OpenMicrophone starts capture.
func (a ALSAMicrophone) OpenMicrophone(ctx context.Context, cfg Config) (mediadevices.AudioSource, error) {
	timeout := a.ReadTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	m, err := audio.OpenMicrophone(audio.MicrophoneConfig{PCM: cfg.Microphone, ReadTimeout: timeout, Pace: cfg.MicrophonePace, Log: a.Log})
	if err != nil {
		return nil, err
	}
	if a.Log != nil {
		a.Log.Info("microphone open", "pcm", m.PCM())
	}
	return m, nil
}
