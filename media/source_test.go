package media

import (
	"github.com/kioskd/kioskd/contract"
	"strings"

	"context"
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/av/vp8"
	"github.com/kioskd/kioskd/hw"
	"github.com/kioskd/kioskd/hw/hwtest"
)

var bg = context.Background()

func track(t *testing.T, tracks []webrtc.TrackLocal, kind webrtc.RTPCodecType) mediadevices.Track {
	t.Helper()
	for _, tr := range tracks {
		if mt := tr.(mediadevices.Track); mt.Kind() == kind {
			return mt
		}
	}
	t.Fatalf("no %s track among %d", kind, len(tracks))
	return nil
}

// readEncoded reads n encoded frames of a track (as a bound
// PeerConnection would) and returns them, or the first error.
func readEncoded(t *testing.T, tr mediadevices.Track, codec string, n int) ([][]byte, error) {
	t.Helper()
	r, err := tr.NewEncodedReader(codec)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][]byte
	for i := 0; i < n; i++ {
		buf, release, err := r.Read()
		if err != nil {
			return out, err
		}
		out = append(out, append([]byte(nil), buf.Data...))
		release()
	}
	return out, nil
}

func waitFailed(t *testing.T, s *Source) error {
	t.Helper()
	select {
	case err := <-s.Failed():
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no error on Failed()")
		return nil
	}
}

func noFailure(t *testing.T, s *Source) {
	t.Helper()
	select {
	case err := <-s.Failed():
		t.Fatalf("unexpected failure: %v", err)
	default:
	}
}

// countingMic is a MicrophoneOpener that counts, and refuses to reopen a
// device whose stream is still open (as mediadevices' drivers do).
type countingMic struct {
	mu                         sync.Mutex
	open                       *countingTone
	opens, closes, double, bad int
	missing                    bool
}

type countingTone struct {
	*synthetic.Tone
	m      *countingMic
	closed bool
}

func (c *countingMic) OpenMicrophone(context.Context, Config) (mediadevices.AudioSource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.missing {
		return nil, ErrDeviceMissing
	}
	if c.open != nil {
		c.bad++
		return nil, errors.New("still open")
	}
	c.opens++
	c.open = &countingTone{Tone: synthetic.NewTone(440, 48000), m: c}
	return c.open, nil
}

func (t *countingTone) Close() error {
	t.m.mu.Lock()
	if t.closed {
		t.m.double++
	} else {
		t.closed = true
		t.m.closes++
		t.m.open = nil
	}
	t.m.mu.Unlock()
	return t.Tone.Close()
}

func TestOptionalVersusRequiredDevices(t *testing.T) {
	f := hwtest.New(t.TempDir())
	// Nothing plugged.
	cases := []struct {
		cfg  Config
		want contract.ErrorName
		n    int
	}{
		{Config{Camera: "auto", CameraRequired: true, Microphone: "none", Width: 640, Height: 480, FPS: 15}, contract.NoUserMedia, 0},
		{Config{Camera: "auto", CameraRequired: false, Microphone: "none", Width: 640, Height: 480, FPS: 15}, contract.NoError, 0},
		{Config{Camera: "auto", CameraRequired: false, Microphone: "test", Width: 640, Height: 480, FPS: 15}, contract.NoError, 1},
		{Config{Camera: "Acme Cam", CameraRequired: true, Microphone: "none", Width: 640, Height: 480, FPS: 15}, contract.NoUserMedia, 0},
	}
	for i, c := range cases {
		s := NewSource(c.cfg, nil, WithCameraSystem(f))
		tr, err := s.Tracks(bg)
		if contract.NameOf(err) != c.want || len(tr) != c.n {
			t.Fatalf("case %d: %d tracks, err %v", i, len(tr), err)
		}
		s.Close()
	}
	// A camera that exists but has no usable format: notSupported if
	// required, left out if optional.
	if err := f.Plug(hwtest.Camera{Node: "video0", ByID: "usb-Therm-video-index0", Caps: hw.Caps{Card: "Thermal", Capture: true,
		Formats: []hw.Format{{PixelFormat: hw.FourCC("Y16 "), Sizes: []hw.Size{{Width: 160, Height: 120}}}}}}); err != nil {
		t.Fatal(err)
	}
	for _, required := range []bool{true, false} {
		s := NewSource(Config{Camera: f.ByIDPath("usb-Therm-video-index0"), CameraRequired: required, Width: 640, Height: 480, FPS: 15, Microphone: "none"}, nil, WithCameraSystem(f))
		tr, err := s.Tracks(bg)
		if required && (contract.NameOf(err) != contract.NotSupported || len(tr) != 0) {
			t.Fatalf("required unusable: %v", err)
		}
		if !required && (err != nil || len(tr) != 0) {
			t.Fatalf("optional unusable: %v", err)
		}
		s.Close()
	}
	// A required microphone that is missing.
	s := NewSource(Config{Camera: "none", Microphone: "mic", MicrophoneRequired: true}, nil, WithMicrophone(&countingMic{missing: true}))
	if _, err := s.Tracks(bg); contract.NameOf(err) != contract.NoUserMedia {
		t.Fatalf("missing mic: %v", err)
	}
	s.Close()
}

// A camera found on the (fake) /dev by its stable by-id path: frames
// are converted from YUYV and encoded by the real-time VP8 encoder; when
// it is unplugged the track fails; it comes back under another node and
// the same stable path finds it.
func TestV4L2CameraUnplugReplugByStablePath(t *testing.T) {
	f := hwtest.New(t.TempDir())
	cam := hwtest.Camera{Node: "video0", ByID: "usb-Acme_Cam_42-video-index0", Caps: hwtest.UVCCaps("Acme Cam"), FPS: 30}
	if err := f.Plug(cam); err != nil {
		t.Fatal(err)
	}
	stable := f.ByIDPath(cam.ByID)
	s := NewSource(Config{Camera: stable, CameraRequired: true, Width: 320, Height: 240, FPS: 30, Microphone: "none"}, nil,
		WithCamera(V4L2Camera{System: f, FrameTimeout: 500 * time.Millisecond}))
	defer s.Close()
	tr, err := s.Tracks(bg)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeVideo), "vp8", 3)
	if err != nil {
		t.Fatal(err)
	}
	if w, h, ok := vp8.KeyframeSize(frames[0]); !ok || w != 320 || h != 240 {
		t.Fatalf("first frame: key=%v %dx%d", ok, w, h)
	}

	f.Unplug("video0")
	if _, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeVideo), "vp8", 3); err == nil {
		t.Fatal("frames after unplug")
	}
	if err := waitFailed(t, s); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("Failed: %v", err)
	}
	s.Reset()
	if f.OpenStreams() != 0 {
		t.Fatal("stream not closed by Reset")
	}
	if _, err := s.Tracks(bg); contract.NameOf(err) != contract.NoUserMedia {
		t.Fatalf("unplugged: %v", err)
	}
	cam.Node = "video2" // the kernel gives it another number
	if err := f.Plug(cam); err != nil {
		t.Fatal(err)
	}
	tr, err = s.Tracks(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeVideo), "vp8", 3); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if f.Opens("video0") != 1 || f.Opens("video2") != 1 || f.OpenStreams() != 0 {
		t.Fatalf("opens %d/%d, open now %d", f.Opens("video0"), f.Opens("video2"), f.OpenStreams())
	}
}

func TestV4L2CameraStallIsALoss(t *testing.T) {
	f := hwtest.New(t.TempDir())
	if err := f.Plug(hwtest.Camera{Node: "video0", Caps: hwtest.UVCCaps("Cam"), FPS: 30}); err != nil {
		t.Fatal(err)
	}
	s := NewSource(Config{Camera: "auto", CameraRequired: true, Width: 160, Height: 120, FPS: 15, Microphone: "none"}, nil,
		WithCamera(V4L2Camera{System: f, FrameTimeout: 100 * time.Millisecond}))
	defer s.Close()
	tr, err := s.Tracks(bg)
	if err != nil {
		t.Fatal(err)
	}
	v := track(t, tr, webrtc.RTPCodecTypeVideo)
	if _, err := readEncoded(t, v, "vp8", 2); err != nil {
		t.Fatal(err)
	}
	f.Stall("video0", true)
	if _, err := readEncoded(t, v, "vp8", 10); !errors.Is(err, hw.ErrTimeout) {
		t.Fatalf("stalled read: %v", err)
	}
	if err := waitFailed(t, s); !errors.Is(err, hw.ErrTimeout) {
		t.Fatalf("Failed: %v", err)
	}
}

func TestV4L2CameraMJPEGAndNV12(t *testing.T) {
	for _, pf := range []hw.PixelFormat{hw.MJPEG, hw.NV12, hw.I420} {
		f := hwtest.New(t.TempDir())
		if err := f.Plug(hwtest.Camera{Node: "video0", FPS: 60, Caps: hw.Caps{Card: "Cam", Capture: true,
			Formats: []hw.Format{{PixelFormat: pf, Sizes: []hw.Size{{Width: 160, Height: 120}}}}}}); err != nil {
			t.Fatal(err)
		}
		s := NewSource(Config{Camera: "Cam", CameraRequired: true, Width: 160, Height: 120, FPS: 15, Microphone: "none"}, nil, WithCameraSystem(f))
		tr, err := s.Tracks(bg)
		if err != nil {
			t.Fatal(err)
		}
		frames, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeVideo), "vp8", 2)
		if err != nil {
			t.Fatalf("%s: %v", pf, err)
		}
		if w, h, ok := vp8.KeyframeSize(frames[0]); !ok || w != 160 || h != 120 {
			t.Fatalf("%s: %dx%d", pf, w, h)
		}
		s.Close()
	}
}

func alsaTestEnv(t *testing.T, micFile, spkFile string) {
	t.Helper()
	conf, err := audiotest.WriteConfig(t.TempDir(), "mic", micFile, "spk", spkFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
}

// The microphone is a real ALSA PCM (a `file` PCM reading a 440 Hz tone,
// no sound card): captured through malgo, encoded by mediadevices' Opus
// encoder; what the encoder produced decodes (libopus) to 440 Hz.
func TestALSAMicrophoneToOpus(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.raw")
	if err := audiotest.WriteToneFile(tone, 440, 2); err != nil {
		t.Fatal(err)
	}
	alsaTestEnv(t, tone, filepath.Join(dir, "spk.raw"))
	s := NewSource(Config{Camera: "none", Microphone: "mic", MicrophoneRequired: true}, nil)
	defer s.Close()
	tr, err := s.Tracks(bg)
	if err != nil {
		t.Fatal(err)
	}
	packets, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeAudio), "opus", 40)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var pcm []int16
	buf := make([]int16, opus.MaxFrameSamples(48000))
	for _, p := range packets {
		n, err := dec.Decode(p, buf)
		if err != nil {
			t.Fatal(err)
		}
		pcm = append(pcm, buf[:n]...)
	}
	if len(pcm) != 40*960 {
		t.Fatalf("%d samples decoded", len(pcm))
	}
	pcm = pcm[960*5:] // past the encoder's start-up
	if hz := analysis.DominantHz(pcm, 48000); math.Abs(hz-440) > 10 {
		t.Fatalf("dominant %.1f Hz, want 440±10", hz)
	}
	if lvl := analysis.LevelDBFS(pcm, 48000, 440); lvl < -15 {
		t.Fatalf("440 Hz at %.1f dBFS", lvl)
	}
}

// A required microphone that is missing gives noUserMedia, and the
// session comes up once it appears (here: the `file` PCM's input appears).
func TestRequiredMicrophoneAppearsLater(t *testing.T) {
	dir := t.TempDir()
	tone := filepath.Join(dir, "later.raw")
	alsaTestEnv(t, tone, filepath.Join(dir, "spk.raw"))
	s := NewSource(Config{Camera: "none", Microphone: "mic", MicrophoneRequired: true}, nil)
	defer s.Close()
	_, err := s.Tracks(bg)
	if contract.NameOf(err) != contract.NoUserMedia || !errors.Is(err, audio.ErrMissing) {
		t.Fatalf("missing: %v", err)
	}
	// The device is named once (issue 16, item 4: it was `microphone
	// "mic": audio device missing: microphone "mic": …`).
	if n := strings.Count(err.Error(), `microphone "mic"`); n != 1 {
		t.Errorf("the error names the microphone %d times, want once: %v", n, err)
	}
	if err := audiotest.WriteToneFile(tone, 440, 1); err != nil {
		t.Fatal(err)
	}
	tr, err := s.Tracks(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeAudio), "opus", 3); err != nil {
		t.Fatal(err)
	}
	// An undefined PCM, optional: the session goes on without audio.
	s2 := NewSource(Config{Camera: "none", Microphone: "nosuchpcm"}, nil)
	defer s2.Close()
	if tr, err := s2.Tracks(bg); err != nil || len(tr) != 0 {
		t.Fatalf("optional missing: %d tracks, %v", len(tr), err)
	}
}

// A camera configured without a size is refused, not given one: the
// sizes are config's (config.Default), and a Config built in code that
// left them out says notSupported, which waits for a new configuration.
func TestCameraWithoutSizeIsNotSupported(t *testing.T) {
	s := NewSource(Config{Camera: "test", CameraRequired: true, Microphone: "none"}, nil)
	defer s.Close()
	if tr, err := s.Tracks(bg); contract.NameOf(err) != contract.NotSupported || len(tr) != 0 {
		t.Fatalf("no size: %d tracks, %v", len(tr), err)
	}
}
