package media

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/pion/mediadevices"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/hw"
)

// Config is the media section of kioskd's configuration (config.Media:
// camera, microphone, size, rate, processing switches), whose keys and
// defaults are config's. The name is media's for its openers and tests.
type Config = config.Media

// defaultVideoBitrate is the VP8 target when WithVideoBitrate is not given.
const defaultVideoBitrate = 500_000

// testToneHz is the frequency of the `test` microphone.
const testToneHz = 440

// Source owns the kiosk's capture tracks. Each track is closed exactly
// once, by Reset or Close, before its device is opened again.
type Source struct {
	cfg config.Media
	log *slog.Logger
	// videoBitrate is the VP8 target in bits/s.
	videoBitrate int
	// echoRef is what the speaker plays, for the microphone's echo
	// canceller; nil: no echo cancellation, whatever the config says.
	echoRef *aec.Reference
	failed  chan error
	camera  CameraOpener
	mic     MicrophoneOpener

	// opMu serialises Tracks, Reset and Close, device work included, so
	// a device is never reopened before its old track is closed.
	opMu   sync.Mutex
	tracks []mediadevices.Track
	// opened: the devices were opened since the last Reset; Tracks then
	// only tries the configured devices that were left out (optional and
	// missing) again, so one plugged in later joins the session.
	opened bool
	// absent: the optional kinds left out, to warn once, not at every try.
	absent map[webrtc.RTPCodecType]bool

	mu     sync.Mutex // guards gen, closed, proc and down (taken by track callbacks)
	gen    int        // bumped by every open and Reset: stale track errors are ignored
	closed bool
	proc   *processedMic // the microphone's processing, if any

	// down: the kinds whose last open failed or whose track failed (health.go).
	down map[webrtc.RTPCodecType]bool
}

// ErrClosed is returned by Tracks after Close.
var ErrClosed = errors.New("media: source closed")

// Option changes how a Source opens devices.
type Option func(*Source)

// WithCamera replaces the camera opener (default: V4L2Camera on hw.Linux()).
func WithCamera(o CameraOpener) Option { return func(s *Source) { s.camera = o } }

// WithMicrophone replaces the microphone opener (default: ALSAMicrophone).
func WithMicrophone(o MicrophoneOpener) Option { return func(s *Source) { s.mic = o } }

// WithCameraSystem finds cameras on sys instead of the real /dev (hwtest.New in tests).
func WithCameraSystem(sys hw.System) Option {
	return func(s *Source) { s.camera = V4L2Camera{System: sys, Log: s.log} }
}

// WithVideoBitrate sets the VP8 target in bits/s (default 500 kbit/s).
func WithVideoBitrate(bps int) Option { return func(s *Source) { s.videoBitrate = bps } }

// WithEchoReference hands the microphone's echo canceller what the speaker
// plays (the Sink's SinkConfig.EchoReference). Without it there is no echo
// cancellation, whatever media.echo_cancellation says: there is nothing to
// cancel against.
func WithEchoReference(ref *aec.Reference) Option { return func(s *Source) { s.echoRef = ref } }

// NewSource returns a source for cfg, the media section; no device is
// opened until Tracks. It fills in no default: a camera configured without
// width, height and fps fails at Tracks with notSupported.
func NewSource(cfg config.Media, log *slog.Logger, opts ...Option) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, log: log, failed: make(chan error, 1), videoBitrate: defaultVideoBitrate}
	s.camera = V4L2Camera{System: hw.Linux(), Log: log}
	s.mic = ALSAMicrophone{Log: log}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Failed delivers an error when an open capture track fails (device lost,
// no frame or samples within the timeout). Only the tracks handed out by
// the latest Tracks report; errors from tracks already Reset are dropped.
func (s *Source) Failed() <-chan error { return s.failed }

// Tracks opens the devices once and hands out the same tracks until Reset.
// A missing required device is a *contract.ConnectError named NoUserMedia,
// an unusable one NotSupported; a missing or unusable optional device is
// left out with a warning. Every later Tracks (the supervisor calls it at
// each connect and when the devices change mid-session) tries the devices
// left out again: the tracks handed out stay the same, and the track of a
// device that has appeared is added.
func (s *Source) Tracks(ctx context.Context) ([]webrtc.TrackLocal, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if !s.opened {
		tracks, err := s.open(ctx)
		if err != nil {
			return nil, err
		}
		s.tracks, s.opened = tracks, true
	} else {
		s.tracks = append(s.tracks, s.openMissing(ctx)...)
	}
	out := make([]webrtc.TrackLocal, len(s.tracks))
	for i, t := range s.tracks {
		out[i] = t
	}
	return out, nil
}

// Kinds is what the source is configured to send, whether the devices are
// present now or not (session.MediaKinds): every call offers a send track
// for each, so an optional device plugged in mid-session joins the call.
func (s *Source) Kinds() []webrtc.RTPCodecType {
	var kinds []webrtc.RTPCodecType
	if configured(s.cfg.Camera) {
		kinds = append(kinds, webrtc.RTPCodecTypeVideo)
	}
	if configured(s.cfg.Microphone) {
		kinds = append(kinds, webrtc.RTPCodecTypeAudio)
	}
	return kinds
}

func configured(setting string) bool { return setting != "" && setting != "none" }

// deviceError turns a failed open into the session's error, or nil when
// the device is optional (logged and left out: a warning the first time,
// a debug line while it stays away).
func (s *Source) deviceError(kind webrtc.RTPCodecType, setting string, required bool, err error) error {
	name := contract.NoUserMedia
	if unusable(err) {
		name = contract.NotSupported
	}
	what := deviceName(kind)
	s.setDown(kind, true)
	if !required {
		if s.absent[kind] {
			s.log.Debug(what+" still not available", what, setting, "error", err.Error())
			return nil
		}
		if s.absent == nil {
			s.absent = map[webrtc.RTPCodecType]bool{}
		}
		s.absent[kind] = true
		s.log.Warn(what+" not available; continuing without it until it appears", what, setting, "error", err.Error(), "error_name", name.String())
		return nil
	}
	return contract.NewConnectError(name, fmt.Errorf("%s %q: %w", what, setting, err))
}

func deviceName(kind webrtc.RTPCodecType) string {
	if kind == webrtc.RTPCodecTypeVideo {
		return "camera"
	}
	return "microphone"
}

// open is called with s.opMu held.
func (s *Source) open(ctx context.Context) ([]mediadevices.Track, error) {
	sel, err := Codecs(s.videoBitrate)
	if err != nil {
		return nil, contract.NewConnectError(contract.NotSupported, fmt.Errorf("codecs: %w", err))
	}
	var tracks []mediadevices.Track
	for _, kind := range s.Kinds() {
		t, err := s.openKind(ctx, kind, sel)
		if err != nil {
			closeAll(tracks)
			return nil, err
		}
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	for _, t := range tracks {
		s.watch(gen, t)
	}
	return tracks, nil
}

// openMissing opens the configured devices that have no track (optional
// ones left out); called with s.opMu held. Their failures count as those
// of the tracks handed out before (the same generation).
func (s *Source) openMissing(ctx context.Context) []mediadevices.Track {
	have := map[webrtc.RTPCodecType]bool{}
	for _, t := range s.tracks {
		have[t.Kind()] = true
	}
	var missing []webrtc.RTPCodecType
	for _, k := range s.Kinds() {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sel, err := Codecs(s.videoBitrate)
	if err != nil {
		s.log.Error("codecs unavailable; cannot add a device", "error", err.Error())
		return nil
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	var added []mediadevices.Track
	for _, k := range missing {
		t, err := s.openKind(ctx, k, sel)
		if err != nil {
			// Only a required device fails, and one was open before; it
			// is back in the next full open after a Reset.
			s.log.Warn(deviceName(k)+" cannot be added", "error", err.Error())
			continue
		}
		if t == nil {
			continue
		}
		s.log.Info(deviceName(k)+" appeared; adding it to the session", deviceName(k), s.setting(k))
		s.watch(gen, t)
		added = append(added, t)
	}
	return added
}

func (s *Source) setting(kind webrtc.RTPCodecType) string {
	if kind == webrtc.RTPCodecTypeVideo {
		return s.cfg.Camera
	}
	return s.cfg.Microphone
}

// openKind opens the configured device of kind: nil, nil when it is
// optional and cannot be opened now.
func (s *Source) openKind(ctx context.Context, kind webrtc.RTPCodecType, sel *mediadevices.CodecSelector) (mediadevices.Track, error) {
	if kind == webrtc.RTPCodecTypeVideo {
		if s.cfg.Width <= 0 || s.cfg.Height <= 0 || s.cfg.FPS <= 0 {
			// Config.Validate refuses this; a Config built in code may not.
			return nil, contract.NewConnectError(contract.NotSupported,
				fmt.Errorf("camera %q: media.width, height and fps must be set (got %dx%d at %d fps)", s.cfg.Camera, s.cfg.Width, s.cfg.Height, s.cfg.FPS))
		}
		if s.cfg.Camera == "test" {
			return mediadevices.NewVideoTrack(synthetic.NewVideo(s.cfg.Width, s.cfg.Height, s.cfg.FPS), sel), nil
		}
		src, err := s.camera.OpenCamera(ctx, s.cfg)
		if err != nil {
			return nil, s.deviceError(kind, s.cfg.Camera, s.cfg.CameraRequired, err)
		}
		delete(s.absent, kind)
		s.setDown(kind, false)
		return mediadevices.NewVideoTrack(src, sel), nil
	}
	if s.cfg.Microphone == "test" {
		return mediadevices.NewAudioTrack(synthetic.NewTone(testToneHz, 48000), sel), nil
	}
	src, err := s.mic.OpenMicrophone(ctx, s.cfg)
	if err != nil {
		return nil, s.deviceError(kind, s.cfg.Microphone, s.cfg.MicrophoneRequired, err)
	}
	delete(s.absent, kind)
	s.setDown(kind, false)
	return mediadevices.NewAudioTrack(s.process(src), sel), nil
}

// watch reports t's failure on Failed while gen is current.
func (s *Source) watch(gen int, t mediadevices.Track) {
	kind := t.Kind()
	t.OnEnded(func(err error) { s.trackEnded(gen, kind, err) })
}

// process wraps a microphone in its processing; without it (nothing
// asked, or speexdsp failed) the microphone is used as it is.
func (s *Source) process(src mediadevices.AudioSource) mediadevices.AudioSource {
	p := Processing{
		EchoCancellation: s.cfg.EchoCancellation, EchoReference: s.echoRef,
		NoiseSuppression: s.cfg.NoiseSuppression, AutoGain: s.cfg.AutoGain,
	}
	out, err := withProcessing(src, p, s.log)
	if err != nil {
		s.log.Error("microphone processing unavailable; sending the microphone unprocessed", "error", err.Error())
		return src
	}
	pm, _ := out.(*processedMic)
	s.mu.Lock()
	s.proc = pm
	s.mu.Unlock()
	return out
}

// ProcessingStats reports the processing of the microphone opened last
// (false when there is none).
func (s *Source) ProcessingStats() (aec.Stats, bool) {
	s.mu.Lock()
	pm := s.proc
	s.mu.Unlock()
	if pm == nil {
		return aec.Stats{}, false
	}
	return pm.ProcessingStats(), true
}

// trackEnded reports a failure of a current track on Failed.
func (s *Source) trackEnded(gen int, kind webrtc.RTPCodecType, err error) {
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.closed {
		return
	}
	s.log.Warn("capture track failed", "kind", kind.String(), "error", err.Error(), "error_name", contract.MediaStreamFailed.String())
	s.markDown(kind)
	select {
	case s.failed <- fmt.Errorf("%s track: %w", kind, err):
	default: // one pending failure is enough to make the session reset
	}
}

func closeAll(tracks []mediadevices.Track) {
	for _, t := range tracks {
		_ = t.Close()
	}
}

// Reset closes every open track exactly once; the next Tracks reopens.
func (s *Source) Reset() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.reset()
	return nil
}

func (s *Source) reset() {
	tracks := s.tracks
	s.tracks, s.opened = nil, false
	s.mu.Lock()
	s.gen++
	// A failure of the tracks being closed is no longer news.
	select {
	case <-s.failed:
	default:
	}
	s.mu.Unlock()
	closeAll(tracks)
}

// Close closes the tracks; Tracks fails with ErrClosed afterwards.
func (s *Source) Close() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.reset()
	return nil
}
