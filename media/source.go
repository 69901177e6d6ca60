package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/mediadevices"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/media/synthetic"
	"github.com/kioskd/kioskd/session"
)

// Config selects the devices (SPEC section 13, media).
type Config struct {
	Camera             string // auto | none | test | /dev/v4l/by-id/... | card name
	CameraRequired     bool
	Width, Height, FPS int
	Microphone         string // default | none | test | ALSA PCM name
	MicrophoneRequired bool
	VideoBitrate       int // bits/s; 0: 500 kbit/s
	// ToneHz is the frequency of the `test` microphone; 0: 440 Hz.
	ToneHz float64
}

// Source owns the kiosk's capture tracks. Each track is closed exactly
// once, by Reset or Close, before its device is opened again.
type Source struct {
	cfg    Config
	log    *slog.Logger
	failed chan error

	mu     sync.Mutex
	tracks []mediadevices.Track
	closed bool
}

var _ session.MediaSource = (*Source)(nil)

// ErrClosed is returned by Tracks after Close.
var ErrClosed = errors.New("media: source closed")

// NewSource returns a source for cfg; no device is opened until Tracks.
func NewSource(cfg Config, log *slog.Logger) *Source {
	if cfg.VideoBitrate == 0 {
		cfg.VideoBitrate = 500_000
	}
	if cfg.ToneHz == 0 {
		cfg.ToneHz = 440
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log, failed: make(chan error, 1)}
}

func (s *Source) Failed() <-chan error { return s.failed }

// Tracks opens the devices once and hands out the same tracks until Reset.
func (s *Source) Tracks(ctx context.Context) ([]webrtc.TrackLocal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.tracks == nil {
		tracks, err := s.open()
		if err != nil {
			return nil, err
		}
		s.tracks = tracks
	}
	out := make([]webrtc.TrackLocal, len(s.tracks))
	for i, t := range s.tracks {
		out[i] = t
	}
	return out, nil
}

func (s *Source) open() ([]mediadevices.Track, error) {
	sel, err := Codecs(s.cfg.VideoBitrate)
	if err != nil {
		return nil, session.NewConnectError(session.NotSupported, fmt.Errorf("codecs: %w", err))
	}
	var tracks []mediadevices.Track
	switch s.cfg.Camera {
	case "none", "":
	case "test":
		tracks = append(tracks, mediadevices.NewVideoTrack(synthetic.NewVideo(s.cfg.Width, s.cfg.Height, s.cfg.FPS), sel))
	default:
		if s.cfg.CameraRequired {
			closeAll(tracks)
			return nil, session.NewConnectError(session.NoUserMedia, fmt.Errorf("camera %q: real cameras are not supported by this build yet", s.cfg.Camera))
		}
		s.log.Warn("camera not available; continuing without video", "camera", s.cfg.Camera)
	}
	switch s.cfg.Microphone {
	case "none", "":
	case "test":
		tracks = append(tracks, mediadevices.NewAudioTrack(synthetic.NewTone(s.cfg.ToneHz, 48000), sel))
	default:
		if s.cfg.MicrophoneRequired {
			closeAll(tracks)
			return nil, session.NewConnectError(session.NoUserMedia, fmt.Errorf("microphone %q: real microphones are not supported by this build yet", s.cfg.Microphone))
		}
		s.log.Warn("microphone not available; continuing without audio", "microphone", s.cfg.Microphone)
	}
	for _, t := range tracks {
		t.OnEnded(func(err error) {
			if err == nil {
				return
			}
			select {
			case s.failed <- fmt.Errorf("%s track: %w", t.Kind(), err):
			default:
			}
		})
	}
	return tracks, nil
}

func closeAll(tracks []mediadevices.Track) {
	for _, t := range tracks {
		_ = t.Close()
	}
}

// Reset closes every open track exactly once; the next Tracks reopens.
func (s *Source) Reset() error {
	s.mu.Lock()
	tracks := s.tracks
	s.tracks = nil
	s.mu.Unlock()
	closeAll(tracks)
	return nil
}

func (s *Source) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.Reset()
}
