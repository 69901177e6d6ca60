package mediatest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/hw/hwtest"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/media/mediatest"
)

// The fake keeps media.CameraOpener's contract as V4L2Camera does: a
// missing camera is an error the source names noUserMedia, a stream
// delivers frames of the configured size until its device is lost, after
// which every read fails, and the device opens again once the stream is
// closed.

// A missing fake camera reaches the session as a missing real one does.
func TestMissingCameraLikeV4L2(t *testing.T) {
	fake := mediatest.NewCamera()
	fake.SetMissing(true)
	openers := map[string]media.CameraOpener{
		"mediatest": fake,
		"v4l2":      media.V4L2Camera{System: hwtest.New(t.TempDir())},
	}
	for name, o := range openers {
		cfg := media.Config{Camera: "/dev/v4l/by-id/usb-Acme-video-index0", CameraRequired: true,
			Width: 160, Height: 120, FPS: 30, Microphone: "none"}
		if _, err := o.OpenCamera(context.Background(), cfg); err == nil {
			t.Fatalf("%s: opened a missing camera", name)
		}
		s := media.NewSource(cfg, nil, media.WithCamera(o))
		_, err := s.Tracks(context.Background())
		if got := contract.NameOf(err); got != contract.NoUserMedia {
			t.Fatalf("%s: Tracks: %v (%s), want %s", name, err, got, contract.NoUserMedia)
		}
		s.Close()
	}
	if _, err := fake.OpenCamera(context.Background(), media.Config{}); !errors.Is(err, media.ErrDeviceMissing) {
		t.Fatalf("missing: %v, want media.ErrDeviceMissing", err)
	}
	if opens, closes, _, _ := fake.Counts(); opens != 0 || closes != 0 {
		t.Fatalf("a missing camera counted opens=%d closes=%d", opens, closes)
	}
}

func TestOpenReadFailCloseReopen(t *testing.T) {
	ctx := context.Background()
	cam := mediatest.NewCamera()
	cfg := media.Config{Camera: "fake", Width: 64, Height: 48, FPS: 100}
	src, err := cam.OpenCamera(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !cam.IsOpen() {
		t.Fatal("IsOpen false with a stream open")
	}
	img, release, err := src.Read()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
		t.Fatalf("frame %v, want 64x48", b)
	}
	release()

	// A second open before the first stream is closed is refused, as
	// mediadevices' drivers refuse it.
	if _, err := cam.OpenCamera(ctx, cfg); !errors.Is(err, mediatest.ErrStillOpen) {
		t.Fatalf("open while open: %v, want ErrStillOpen", err)
	}

	// A lost device: this read and every later one fail with its error.
	lost := errors.New("VIDIOC_DQBUF: no such device")
	cam.Fail(lost)
	for i := 0; i < 2; i++ {
		if _, _, err := src.Read(); !errors.Is(err, lost) {
			t.Fatalf("read %d after the loss: %v", i, err)
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if cam.IsOpen() {
		t.Fatal("IsOpen true after Close")
	}
	if opens, closes, double, refused := cam.Counts(); opens != 1 || closes != 1 || double != 1 || refused != 1 {
		t.Fatalf("opens=%d closes=%d double=%d refused=%d", opens, closes, double, refused)
	}

	// Closed, it opens again, and the new stream works (the loss was the
	// old stream's). Without a size it delivers 160x120.
	src, err = cam.OpenCamera(ctx, media.Config{Camera: "fake", FPS: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img, release, err = src.Read()
	if err != nil {
		t.Fatalf("read after reopen: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 120 {
		t.Fatalf("frame %v, want 160x120", b)
	}
	release()
	if opens, closes, _, _ := cam.Counts(); opens != 2 || closes != 1 {
		t.Fatalf("opens=%d closes=%d", opens, closes)
	}
}
