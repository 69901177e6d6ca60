package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/leds/ledstest"
)

// TestDevicesJSON: `kioskd devices --json` is one JSON object a script
// can read: the ALSA PCMs of the system's configuration (here a test one
// with a microphone and a speaker), the cameras, the sound cards, and the
// four LED backends with what each would drive (LED-class LEDs under the
// given root, with the value for leds.lines).
func TestDevicesJSON(t *testing.T) {
	dir := t.TempDir()
	conf, err := audiotest.WriteConfig(dir, "mic", filepath.Join(dir, "in.raw"), "spk", filepath.Join(dir, "out.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	root := filepath.Join(dir, "leds")
	if err := ledstest.MakeLEDClass(root, "kiosk:red", 255, "timer"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"devices", "--json", "--ledclass-root", root}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got struct {
		Cameras     []map[string]any `json:"cameras"`
		Microphones []struct {
			Config, Description string
		} `json:"microphones"`
		Speakers []struct {
			Config string
		} `json:"speakers"`
		SoundCards  []map[string]any `json:"sound_cards"`
		LEDBackends []struct {
			Backend   string
			Available bool
			Root      string
			LEDs      []struct {
				Name          string
				MaxBrightness int `json:"max_brightness"`
				Config        string
			}
		} `json:"led_backends"`
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&got); err != nil || dec.More() {
		t.Fatalf("not one JSON object (%v):\n%s", err, out.String())
	}
	if got.Cameras == nil || got.SoundCards == nil {
		t.Errorf("cameras and sound_cards must be lists:\n%s", out.String())
	}
	mic := false
	for _, m := range got.Microphones {
		mic = mic || (m.Config == "mic" && m.Description == "kioskd test microphone")
	}
	spk := false
	for _, s := range got.Speakers {
		spk = spk || s.Config == "spk"
	}
	if !mic || !spk {
		t.Errorf("microphone mic / speaker spk missing:\n%s", out.String())
	}
	backends := map[string]bool{}
	for _, b := range got.LEDBackends {
		backends[b.Backend] = b.Available
		if b.Backend == "ledclass" && (b.Root != root || len(b.LEDs) != 1 || b.LEDs[0].Config != "kiosk:red" || b.LEDs[0].MaxBrightness != 255) {
			t.Errorf("ledclass backend: %+v", b)
		}
	}
	if len(backends) != 4 || !backends["ledclass"] || !backends["console"] || !backends["none"] {
		t.Errorf("LED backends %v, want gpio, ledclass (available), console, none", backends)
	}
}
