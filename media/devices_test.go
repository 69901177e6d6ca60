package media

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kioskd/kioskd/hw"
	"github.com/kioskd/kioskd/hw/hwtest"
)

func TestListDevices(t *testing.T) {
	dir := t.TempDir()
	alsaTestEnv(t, filepath.Join(dir, "tone.raw"), filepath.Join(dir, "spk.raw"))
	proc := filepath.Join(dir, "asound")
	os.MkdirAll(proc, 0o755)
	os.WriteFile(filepath.Join(proc, "cards"), []byte(
		" 0 [PCH            ]: HDA-Intel - HDA Intel PCH\n"+
			"                      HDA Intel PCH at 0xf7f10000 irq 32\n"+
			" 1 [Device         ]: USB-Audio - USB Audio Device\n"+
			"                      C-Media Electronics Inc. USB Audio Device at usb-0000:00:14.0-2, full speed\n"), 0o644)
	os.WriteFile(filepath.Join(proc, "pcm"), []byte(
		"00-00: ALC892 Analog : ALC892 Analog : playback 1 : capture 1\n"+
			"00-01: ALC892 Digital : ALC892 Digital : playback 1\n"+
			"01-00: USB Audio : USB Audio : playback 1 : capture 1\n"), 0o644)
	f := hwtest.New(filepath.Join(dir))
	f.Plug(hwtest.Camera{Node: "video0", ByID: "usb-Acme_Cam_42-video-index0", Caps: hwtest.UVCCaps("Acme Cam")})
	f.Plug(hwtest.Camera{Node: "video1", ByID: "usb-Acme_Cam_42-video-index1", Caps: hw.Caps{Card: "Acme Cam", Driver: "uvcvideo"}})

	d, err := ListDevices(bg, ListOptions{Cameras: f, ProcAsound: proc})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Cameras) != 2 || len(d.Cards) != 2 || len(d.Cards[1].PCMs) != 1 || d.AudioErr != nil {
		t.Fatalf("%+v", d)
	}
	var sb strings.Builder
	if err := d.WriteText(&sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"camera: " + f.ByIDPath("usb-Acme_Cam_42-video-index0"),
		`camera: Acme Cam   (by card name)`,
		"format YUYV:", "640x480", "format MJPG:", "(compressed; used only without a raw format)",
		"at 640x480 kioskd captures YUYV 640x480",
		"not a video capture device",
		`microphone: mic`, "kioskd test microphone",
		`speaker: spk`,
		`microphone: "plughw:CARD=Device,DEV=0"`,
		`speaker: "plughw:CARD=PCH,DEV=1"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	if strings.Contains(out, `microphone: "plughw:CARD=PCH,DEV=1"`) {
		t.Error("a playback-only device listed as a microphone")
	}
}
