package hw_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kioskd/kioskd/hw"
	"github.com/kioskd/kioskd/hw/hwtest"
)

func newTestFake(t *testing.T) *hwtest.System {
	t.Helper()
	return hwtest.New(t.TempDir())
}

func mustPlug(t *testing.T, f *hwtest.System, c hwtest.Camera) {
	t.Helper()
	if err := f.Plug(c); err != nil {
		t.Fatal(err)
	}
}

func TestFourCC(t *testing.T) {
	if hw.YUYV != 0x56595559 {
		t.Fatalf("YUYV = %#x", uint32(hw.YUYV))
	}
	if hw.I420.String() != "YU12" || hw.MJPEG.String() != "MJPG" {
		t.Fatal(hw.I420, hw.MJPEG)
	}
}

func TestDiscoveryStablePathsAndCaps(t *testing.T) {
	f := newTestFake(t)
	mustPlug(t, f, hwtest.Camera{Node: "video0", ByID: "usb-Acme_Cam_1-video-index0", Caps: hwtest.UVCCaps("Acme Cam")})
	// The UVC metadata node: same card, not a capture device.
	mustPlug(t, f, hwtest.Camera{Node: "video1", ByID: "usb-Acme_Cam_1-video-index1", Caps: hw.Caps{Card: "Acme Cam", Driver: "uvcvideo"}})
	// A platform camera without a by-id link.
	mustPlug(t, f, hwtest.Camera{Node: "video10", Caps: hw.Caps{Card: "bcm2835 ISP", Driver: "bcm2835", Capture: true,
		Formats: []hw.Format{{PixelFormat: hw.NV12, Range: &hw.SizeRange{Min: hw.Size{32, 32}, Max: hw.Size{1920, 1080}, StepW: 2, StepH: 2}}}}})
	mustPlug(t, f, hwtest.Camera{Node: "video2", Caps: hw.Caps{Card: "Thermal", Driver: "x", Capture: true,
		Formats: []hw.Format{{PixelFormat: hw.FourCC("Y16 "), Sizes: []hw.Size{{160, 120}}}}}})

	cams, err := hw.Cameras(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range cams {
		paths = append(paths, c.Path[len(f.DevDir()):])
	}
	want := []string{"/v4l/by-id/usb-Acme_Cam_1-video-index0", "/v4l/by-id/usb-Acme_Cam_1-video-index1", "/video2", "/video10"}
	if len(paths) != len(want) {
		t.Fatalf("paths %v", paths)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("paths %v, want %v", paths, want)
		}
	}
	if c := cams[0]; c.Node != f.DevDir()+"/video0" || c.Card != "Acme Cam" || c.Driver != "uvcvideo" || !c.Usable() || len(c.Formats) != 2 {
		t.Fatalf("camera 0: %+v", c)
	}
	if cams[1].Usable() || cams[2].Usable() || !cams[3].Usable() {
		t.Fatal("usable flags wrong")
	}
}

func TestChoosePrefersRawOverMJPEG(t *testing.T) {
	c := hw.Camera{Path: "/x", Caps: hwtest.UVCCaps("Cam")}
	ch, err := c.Choose(hw.Size{640, 480})
	if err != nil || ch.PixelFormat != hw.YUYV || ch.Size != (hw.Size{640, 480}) {
		t.Fatalf("%v %v", ch, err)
	}
	// Raw still wins when its nearest size is not exact.
	c.Formats[1].Sizes = []hw.Size{{320, 240}}
	if ch, _ := c.Choose(hw.Size{640, 480}); ch.PixelFormat != hw.YUYV || ch.Size != (hw.Size{320, 240}) {
		t.Fatalf("%v", ch)
	}
	// NV12 is preferred to YUYV at the same size.
	c.Formats = append(c.Formats, hw.Format{PixelFormat: hw.NV12, Sizes: []hw.Size{{320, 240}}})
	if ch, _ := c.Choose(hw.Size{640, 480}); ch.PixelFormat != hw.NV12 {
		t.Fatalf("%v", ch)
	}
	// MJPEG only.
	c.Formats = c.Formats[:1]
	if ch, _ := c.Choose(hw.Size{640, 480}); ch.PixelFormat != hw.MJPEG || ch.Size != (hw.Size{640, 480}) {
		t.Fatalf("%v", ch)
	}
	// Stepwise: the wanted size if the range has it.
	c.Formats = []hw.Format{{PixelFormat: hw.I420, Range: &hw.SizeRange{Min: hw.Size{32, 32}, Max: hw.Size{1920, 1080}, StepW: 16, StepH: 16}}}
	if ch, _ := c.Choose(hw.Size{640, 480}); ch.Size != (hw.Size{640, 480}) {
		t.Fatalf("%v", ch)
	}
	// Nothing usable.
	c.Formats = []hw.Format{{PixelFormat: hw.FourCC("Y16 "), Sizes: []hw.Size{{160, 120}}}}
	if _, err := c.Choose(hw.Size{640, 480}); !errors.Is(err, hw.ErrUnusable) {
		t.Fatalf("err %v", err)
	}
}

func TestFindMissingVersusUnusable(t *testing.T) {
	ctx := context.Background()
	f := newTestFake(t)
	// Nothing plugged: auto, a path and a card name are all missing.
	for _, spec := range []string{"auto", f.ByIDPath("usb-Acme-video-index0"), "Acme Cam"} {
		if _, err := hw.Find(ctx, f, spec); !errors.Is(err, hw.ErrMissing) {
			t.Fatalf("%s: %v, want ErrMissing", spec, err)
		}
	}
	// A device that exists but offers nothing usable.
	mustPlug(t, f, hwtest.Camera{Node: "video0", ByID: "usb-Therm-video-index0", Caps: hw.Caps{Card: "Thermal", Capture: true,
		Formats: []hw.Format{{PixelFormat: hw.FourCC("Y16 "), Sizes: []hw.Size{{160, 120}}}}}})
	for _, spec := range []string{"auto", f.ByIDPath("usb-Therm-video-index0"), "thermal"} {
		_, err := hw.Find(ctx, f, spec)
		if !errors.Is(err, hw.ErrUnusable) || errors.Is(err, hw.ErrMissing) {
			t.Fatalf("%s: %v, want ErrUnusable", spec, err)
		}
	}
	// A metadata-only node given by path is unusable, not missing.
	mustPlug(t, f, hwtest.Camera{Node: "video1", ByID: "usb-Acme-video-index1", Caps: hw.Caps{Card: "Acme"}})
	if _, err := hw.Find(ctx, f, f.ByIDPath("usb-Acme-video-index1")); !errors.Is(err, hw.ErrUnusable) {
		t.Fatalf("metadata node: %v", err)
	}
	// Busy is its own error (noUserMedia, as missing).
	mustPlug(t, f, hwtest.Camera{Node: "video2", ByID: "usb-Acme-video-index0", Caps: hwtest.UVCCaps("Acme")})
	f.SetBusy("video2", true)
	if _, err := hw.Find(ctx, f, f.ByIDPath("usb-Acme-video-index0")); !errors.Is(err, hw.ErrBusy) {
		t.Fatalf("busy: %v", err)
	}
	f.SetBusy("video2", false)
	// auto skips the unusable ones and takes the good camera; so does the card name.
	for _, spec := range []string{"auto", "Acme", f.ByIDPath("usb-Acme-video-index0")} {
		c, err := hw.Find(ctx, f, spec)
		if err != nil || c.Node != f.DevDir()+"/video2" {
			t.Fatalf("%s: %+v %v", spec, c, err)
		}
	}
}

func TestOpenReadUnplugReplug(t *testing.T) {
	ctx := context.Background()
	f := newTestFake(t)
	cam := hwtest.Camera{Node: "video0", ByID: "usb-Acme-video-index0", Caps: hwtest.UVCCaps("Acme"), FPS: 200}
	mustPlug(t, f, cam)
	stable := f.ByIDPath(cam.ByID)
	c, st, err := hw.Open(ctx, f, stable, hw.Size{320, 240}, 15)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != stable || st.Format().PixelFormat != hw.YUYV || st.Format().Size != (hw.Size{320, 240}) {
		t.Fatalf("%+v %+v", c, st.Format())
	}
	buf := make([]byte, st.Format().ImageSize)
	for i := 0; i < 3; i++ {
		if n, err := st.ReadFrame(buf, time.Second); err != nil || n != 320*240*2 {
			t.Fatalf("frame %d: %d %v", i, n, err)
		}
	}
	// Stalled: a timeout, not a hang.
	f.Stall("video0", true)
	if _, err := st.ReadFrame(buf, 20*time.Millisecond); !errors.Is(err, hw.ErrTimeout) {
		t.Fatalf("stalled: %v", err)
	}
	f.Stall("video0", false)
	// Unplugged: the stream fails, the stable path is gone.
	f.Unplug("video0")
	if _, err := st.ReadFrame(buf, time.Second); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("unplugged: %v", err)
	}
	if _, _, err := hw.Open(ctx, f, stable, hw.Size{320, 240}, 15); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("reopen while unplugged: %v", err)
	}
	st.Close()
	st.Close()
	// Replugged under another node: the stable path finds it again.
	cam.Node = "video3"
	mustPlug(t, f, cam)
	c, st, err = hw.Open(ctx, f, stable, hw.Size{320, 240}, 15)
	if err != nil || c.Node != f.DevDir()+"/video3" {
		t.Fatalf("replug: %+v %v", c, err)
	}
	if _, err := st.ReadFrame(buf, time.Second); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if f.OpenStreams() != 0 || f.Opens("video3") != 1 {
		t.Fatalf("open streams %d opens %d", f.OpenStreams(), f.Opens("video3"))
	}
}

// The real system must not find anything on a machine without cameras,
// and must not fail either.
func TestLinuxSystemWithoutCameras(t *testing.T) {
	cams, err := hw.Cameras(context.Background(), hw.Linux())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cams {
		t.Logf("found %s (%s) %s usable=%v err=%v", c.Path, c.Card, c.Node, c.Usable(), c.Err)
	}
	if _, err := hw.Find(context.Background(), hw.Linux(), "/dev/v4l/by-id/usb-NoSuch_Camera-video-index0"); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("missing path: %v", err)
	}
}

// The ioctl layer on nodes that are not cameras: classified, not crashed.
func TestLinuxSystemOnNonCameraNodes(t *testing.T) {
	sys := hw.Linux()
	if _, err := sys.Query("/dev/null"); !errors.Is(err, hw.ErrUnusable) {
		t.Fatalf("Query /dev/null: %v", err)
	}
	if _, err := sys.Open("/dev/null", hw.StreamRequest{PixelFormat: hw.YUYV, Size: hw.Size{640, 480}}); !errors.Is(err, hw.ErrUnusable) {
		t.Fatalf("Open /dev/null: %v", err)
	}
	if _, err := sys.Open("/dev/video-does-not-exist", hw.StreamRequest{PixelFormat: hw.YUYV, Size: hw.Size{640, 480}}); !errors.Is(err, hw.ErrMissing) {
		t.Fatalf("Open missing: %v", err)
	}
	if _, err := hw.Find(context.Background(), sys, "/dev/null"); !errors.Is(err, hw.ErrUnusable) {
		t.Fatalf("Find /dev/null: %v", err)
	}
}
