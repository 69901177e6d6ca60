package hwtest_test

import (
	"bytes"
	"errors"
	"image/jpeg"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskd/kioskd/hw"
	"github.com/kioskd/kioskd/hw/hwtest"
)

// The fake keeps hw.System's and hw.Stream's contract, as the V4L2 code
// does: the errors are hw's sentinels (so the media source maps them to
// the same error names), a stream delivers frames of the format it
// reports, a stalled stream times out instead of hanging, an unplugged one
// fails with ErrMissing, and Close may be called twice.

func plug(t *testing.T, f *hwtest.System, c hwtest.Camera) {
	t.Helper()
	if err := f.Plug(c); err != nil {
		t.Fatal(err)
	}
}

func TestQueryAndOpenErrors(t *testing.T) {
	f := hwtest.New(t.TempDir())
	if _, err := f.Query(f.ByIDPath("usb-None-video-index0")); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("Query of an absent camera: %v, want ErrMissing", err)
	}
	if _, err := f.Open(filepath.Join(f.DevDir(), "video0"), hw.StreamRequest{PixelFormat: hw.YUYV, Size: hw.Size{Width: 640, Height: 480}}); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("Open of an absent camera: %v, want ErrMissing", err)
	}
	plug(t, f, hwtest.Camera{Node: "video0", ByID: "usb-Acme-video-index0", Caps: hwtest.UVCCaps("Acme")})
	node := f.ByIDPath("usb-Acme-video-index0")
	caps, err := f.Query(node)
	if err != nil || caps.Card != "Acme" || !caps.Capture || len(caps.Formats) != 2 {
		t.Fatalf("Query: %+v %v", caps, err)
	}
	// A format or size the camera does not list is unusable, not missing.
	for _, req := range []hw.StreamRequest{
		{PixelFormat: hw.NV12, Size: hw.Size{Width: 640, Height: 480}},
		{PixelFormat: hw.YUYV, Size: hw.Size{Width: 641, Height: 480}},
	} {
		if _, err := f.Open(node, req); !errors.Is(err, hw.ErrUnusable) || errors.Is(err, hw.ErrMissing) {
			t.Fatalf("Open %v: %v, want ErrUnusable", req, err)
		}
	}
	f.SetBusy("video0", true)
	if _, err := f.Query(node); !errors.Is(err, hw.ErrBusy) {
		t.Fatalf("Query while busy: %v, want ErrBusy", err)
	}
	if _, err := f.Open(node, hw.StreamRequest{PixelFormat: hw.YUYV, Size: hw.Size{Width: 640, Height: 480}}); !errors.Is(err, hw.ErrBusy) {
		t.Fatalf("Open while busy: %v, want ErrBusy", err)
	}
	f.SetBusy("video0", false)
	if _, err := f.Query(node); err != nil {
		t.Fatalf("Query after busy: %v", err)
	}
	if f.Opens("video0") != 0 || f.OpenStreams() != 0 {
		t.Fatalf("failed opens counted: opens %d, open streams %d", f.Opens("video0"), f.OpenStreams())
	}
}

// Each pixel format the fake offers delivers frames of the size and
// layout its StreamFormat states, as a driver does after VIDIOC_S_FMT.
func TestStreamFormats(t *testing.T) {
	f := hwtest.New(t.TempDir())
	sz := hw.Size{Width: 64, Height: 48}
	formats := []hw.PixelFormat{hw.YUYV, hw.UYVY, hw.NV12, hw.NV21, hw.I420, hw.MJPEG, hw.JPEG}
	var fs []hw.Format
	for _, pf := range formats {
		fs = append(fs, hw.Format{PixelFormat: pf, Sizes: []hw.Size{sz}})
	}
	plug(t, f, hwtest.Camera{Node: "video0", Caps: hw.Caps{Card: "All", Capture: true, Formats: fs}, FPS: 1000})
	for _, pf := range formats {
		st, err := f.Open(filepath.Join(f.DevDir(), "video0"), hw.StreamRequest{PixelFormat: pf, Size: sz, FPS: 30})
		if err != nil {
			t.Fatalf("%s: %v", pf, err)
		}
		sf := st.Format()
		if sf.PixelFormat != pf || sf.Size != sz || sf.ImageSize <= 0 {
			t.Fatalf("%s: format %+v", pf, sf)
		}
		buf := make([]byte, sf.ImageSize)
		n, err := st.ReadFrame(buf, 5*time.Second)
		if err != nil || n <= 0 || n > sf.ImageSize {
			t.Fatalf("%s: frame of %d bytes (image size %d): %v", pf, n, sf.ImageSize, err)
		}
		switch {
		case pf.Raw():
			want := sz.Width * sz.Height * 2
			if pf == hw.NV12 || pf == hw.NV21 || pf == hw.I420 {
				want = sz.Width * sz.Height * 3 / 2
			}
			if n != want || sf.ImageSize != want || sf.BytesPerLine == 0 {
				t.Fatalf("%s: %d bytes, image size %d, bytes per line %d; want %d", pf, n, sf.ImageSize, sf.BytesPerLine, want)
			}
			// Consecutive raw frames differ, as a live picture does.
			first := append([]byte(nil), buf[:n]...)
			if _, err := st.ReadFrame(buf, 5*time.Second); err != nil || bytes.Equal(first, buf[:n]) {
				t.Fatalf("%s: second frame equal to the first (%v)", pf, err)
			}
		default:
			img, err := jpeg.Decode(bytes.NewReader(buf[:n]))
			if err != nil || img.Bounds().Dx() != sz.Width || img.Bounds().Dy() != sz.Height {
				t.Fatalf("%s: not a %s JPEG: %v", pf, sz, err)
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if f.Opens("video0") != len(formats) || f.OpenStreams() != 0 {
		t.Fatalf("opens %d, open streams %d", f.Opens("video0"), f.OpenStreams())
	}
}

// Frames are paced at the camera's rate: never early.
func TestStreamPacing(t *testing.T) {
	f := hwtest.New(t.TempDir())
	plug(t, f, hwtest.Camera{Node: "video0", Caps: hwtest.UVCCaps("Acme"), FPS: 100})
	st, err := f.Open(filepath.Join(f.DevDir(), "video0"), hw.StreamRequest{PixelFormat: hw.YUYV, Size: hw.Size{Width: 160, Height: 120}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	buf := make([]byte, st.Format().ImageSize)
	start := time.Now()
	const frames = 6
	for i := 0; i < frames; i++ {
		if _, err := st.ReadFrame(buf, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if took, least := time.Since(start), (frames-1)*10*time.Millisecond; took < least {
		t.Fatalf("%d frames at 100 fps in %v, want at least %v", frames, took, least)
	}
}

func TestStallUnplugReplugClose(t *testing.T) {
	f := hwtest.New(t.TempDir())
	cam := hwtest.Camera{Node: "video0", ByID: "usb-Acme-video-index0", Caps: hwtest.UVCCaps("Acme"), FPS: 1000}
	plug(t, f, cam)
	stable := f.ByIDPath(cam.ByID)
	req := hw.StreamRequest{PixelFormat: hw.YUYV, Size: hw.Size{Width: 160, Height: 120}}
	st, err := f.Open(stable, req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, st.Format().ImageSize)
	if _, err := st.ReadFrame(buf, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Stalled: the read gives up at its timeout with ErrTimeout.
	f.Stall("video0", true)
	if _, err := st.ReadFrame(buf, 10*time.Millisecond); !errors.Is(err, hw.ErrTimeout) {
		t.Fatalf("stalled: %v, want ErrTimeout", err)
	}
	// A read waiting on a stalled camera ends as soon as it is unplugged.
	failed := make(chan error, 1)
	go func() {
		_, err := st.ReadFrame(buf, time.Minute)
		failed <- err
	}()
	f.Unplug("video0")
	if err := <-failed; !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("unplugged while reading: %v, want ErrMissing", err)
	}
	if _, err := f.Query(stable); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("Query of the unplugged camera: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := st.ReadFrame(buf, time.Second); err == nil {
		t.Fatal("ReadFrame after Close succeeded")
	}
	// Replugged under another node: the stable path finds it again.
	cam.Node = "video3"
	plug(t, f, cam)
	st, err = f.Open(stable, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadFrame(buf, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if f.OpenStreams() != 1 || f.Opens("video3") != 1 || f.Opens("video0") != 1 {
		t.Fatalf("open streams %d, opens video0 %d video3 %d", f.OpenStreams(), f.Opens("video0"), f.Opens("video3"))
	}
	st.Close()
	if f.OpenStreams() != 0 {
		t.Fatalf("open streams %d after Close", f.OpenStreams())
	}
}
