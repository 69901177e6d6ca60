package media

import (
	"encoding/json"
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
	checkListing(t, d.Listing(), f.ByIDPath("usb-Acme_Cam_42-video-index0"))
}

// checkListing: `kioskd devices --json` says what the text says, with the
// config values, and the metadata node as not usable.
func checkListing(t *testing.T, l Listing, camPath string) {
	t.Helper()
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cameras", "microphones", "speakers", "sound_cards"} {
		if _, ok := back[k].([]any); !ok {
			t.Errorf("%s is not a list: %s", k, b)
		}
	}
	if len(l.Cameras) != 2 {
		t.Fatalf("cameras: %+v", l.Cameras)
	}
	usable := l.Cameras[0]
	if !usable.Usable || usable.Config != camPath || usable.Card != "Acme Cam" || usable.Captures != "YUYV 640x480" || len(usable.Formats) == 0 {
		t.Errorf("usable camera: %+v", usable)
	}
	if meta := l.Cameras[1]; meta.Usable || meta.Capture || meta.Config != "" {
		t.Errorf("metadata node: %+v", meta)
	}
	has := func(ps []PCMListing, cfg, desc string) bool {
		for _, p := range ps {
			if p.Config == cfg && (desc == "" || p.Description == desc) {
				return true
			}
		}
		return false
	}
	if !has(l.Microphones, "mic", "kioskd test microphone") || !has(l.Speakers, "spk", "") {
		t.Errorf("PCMs: %+v %+v", l.Microphones, l.Speakers)
	}
	if len(l.SoundCards) != 2 || l.SoundCards[1].ID != "Device" || len(l.SoundCards[1].Devices) != 1 ||
		l.SoundCards[1].Devices[0].Config != "plughw:CARD=Device,DEV=0" || !l.SoundCards[1].Devices[0].Capture {
		t.Errorf("sound cards: %+v", l.SoundCards)
	}
}
