package media_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/media/mediatest"
)

// TestDeviceHealth: a configured camera is up until it is lost (its track
// fails) and while it cannot be opened, and up again once it opens; a
// device configured none has no entry; the test microphone is up.
func TestDeviceHealth(t *testing.T) {
	cam := mediatest.NewCamera()
	s := media.NewSource(media.Config{Camera: "/dev/v4l/by-id/flaky", CameraRequired: true, Width: 160, Height: 120, FPS: 30,
		Microphone: "test"}, nil, media.WithCamera(cam))
	defer s.Close()
	health := func() string { return fmt.Sprint(s.Health()) }
	if got := health(); got != "[{camera true} {microphone true}]" {
		t.Fatalf("before any open: %s", got)
	}
	tr, err := s.Tracks(media.Bg)
	if err != nil {
		t.Fatal(err)
	}
	if got := health(); got != "[{camera true} {microphone true}]" {
		t.Fatalf("open: %s", got)
	}
	cam.Fail(errors.New("VIDIOC_DQBUF: no such device"))
	cam.SetMissing(true)
	_, _ = media.ReadEncoded(t, media.TrackOf(t, tr, webrtc.RTPCodecTypeVideo), "vp8", 5)
	_ = media.WaitFailed(t, s)
	if got := health(); got != "[{camera false} {microphone true}]" {
		t.Fatalf("lost: %s", got)
	}
	s.Reset()
	if _, err := s.Tracks(media.Bg); err == nil {
		t.Fatal("a missing required camera opened")
	}
	if got := health(); got != "[{camera false} {microphone true}]" {
		t.Fatalf("still missing: %s", got)
	}
	cam.SetMissing(false)
	if _, err := s.Tracks(media.Bg); err != nil {
		t.Fatal(err)
	}
	if got := health(); got != "[{camera true} {microphone true}]" {
		t.Fatalf("back: %s", got)
	}

	none := media.NewSource(media.Config{Camera: "none", Microphone: "none"}, nil)
	defer none.Close()
	if got := none.Health(); len(got) != 0 {
		t.Fatalf("nothing configured: %v", got)
	}
	if got := media.NewSink(media.SinkConfig{Speaker: "none"}, nil).Health(); len(got) != 0 {
		t.Fatalf("speaker none: %v", got)
	}
}
