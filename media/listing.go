package media

import "github.com/kioskd/kioskd/hw"

// Listing is Devices for machines (`kioskd devices --json`): plain values
// with stable lower-case keys, errors as strings ("" or absent when none),
// and for each device the exact value to put in the config.
type Listing struct {
	Cameras      []CameraListing `json:"cameras"`
	CamerasError string          `json:"cameras_error,omitempty"`
	Microphones  []PCMListing    `json:"microphones"` // libasound's hints
	Speakers     []PCMListing    `json:"speakers"`
	AudioError   string          `json:"audio_error,omitempty"`
	SoundCards   []CardListing   `json:"sound_cards"`
	CardsError   string          `json:"sound_cards_error,omitempty"`
}

// CameraListing is one V4L2 device.
type CameraListing struct {
	Path    string `json:"path"` // stable (by-id) path, or the node
	Node    string `json:"node"`
	Card    string `json:"card"`
	Driver  string `json:"driver"`
	Bus     string `json:"bus"`
	Capture bool   `json:"capture"` // a video capture device (not a metadata node)
	Usable  bool   `json:"usable"`  // kioskd can capture from it
	// Captures is what kioskd would capture at 640x480 ("YUYV 640x480"),
	// "" when not usable.
	Captures string          `json:"captures,omitempty"`
	Error    string          `json:"error,omitempty"`
	Formats  []FormatListing `json:"formats"`
	// Config is the value of media.camera for it ("" when not usable).
	Config string `json:"config,omitempty"`
}

// FormatListing is one pixel format of a camera.
type FormatListing struct {
	Format     string   `json:"format"` // "YUYV", "MJPG"
	Supported  bool     `json:"supported"`
	Compressed bool     `json:"compressed"`
	Sizes      []string `json:"sizes"` // "640x480"
}

// PCMListing is an ALSA PCM; Config is the value of media.microphone or
// media.speaker.
type PCMListing struct {
	Config      string `json:"config"`
	Description string `json:"description"`
}

// CardListing is a sound card of /proc/asound.
type CardListing struct {
	Index   int              `json:"index"`
	ID      string           `json:"id"`
	Name    string           `json:"name"`
	Driver  string           `json:"driver"`
	Devices []CardPCMListing `json:"devices"`
}

// CardPCMListing is one PCM device of a card.
type CardPCMListing struct {
	Device   int    `json:"device"`
	Name     string `json:"name"`
	Capture  bool   `json:"capture"`
	Playback bool   `json:"playback"`
	Config   string `json:"config"` // media.microphone / media.speaker
}

// Listing converts the probe's result; empty lists are [] rather than
// null, so a script iterates without a check.
func (d Devices) Listing() Listing {
	l := Listing{
		Cameras: []CameraListing{}, Microphones: []PCMListing{}, Speakers: []PCMListing{}, SoundCards: []CardListing{},
		CamerasError: errString(d.CameraErr), AudioError: errString(d.AudioErr), CardsError: errString(d.CardsErr),
	}
	for _, c := range d.Cameras {
		cl := CameraListing{Path: c.Path, Node: c.Node, Card: c.Card, Driver: c.Driver, Bus: c.Bus, Capture: c.Capture,
			Usable: c.Usable(), Error: errString(c.Err), Formats: []FormatListing{}}
		if cl.Usable {
			cl.Config = c.Path
			if ch, err := c.Choose(hw.Size{Width: 640, Height: 480}); err == nil {
				cl.Captures = ch.String()
			}
		}
		for _, f := range c.Formats {
			fl := FormatListing{Format: f.PixelFormat.String(), Supported: f.PixelFormat.Supported(), Compressed: !f.PixelFormat.Raw(), Sizes: []string{}}
			for _, s := range f.AllSizes() {
				fl.Sizes = append(fl.Sizes, s.String())
			}
			cl.Formats = append(cl.Formats, fl)
		}
		l.Cameras = append(l.Cameras, cl)
	}
	for _, m := range d.Microphones {
		l.Microphones = append(l.Microphones, PCMListing{Config: m.Name, Description: m.Description})
	}
	for _, s := range d.Speakers {
		l.Speakers = append(l.Speakers, PCMListing{Config: s.Name, Description: s.Description})
	}
	for _, c := range d.Cards {
		cl := CardListing{Index: c.Index, ID: c.ID, Name: c.Name, Driver: c.Driver, Devices: []CardPCMListing{}}
		for _, p := range c.PCMs {
			cl.Devices = append(cl.Devices, CardPCMListing{Device: p.Device, Name: p.Name, Capture: p.Capture, Playback: p.Playback, Config: p.Config(c)})
		}
		l.SoundCards = append(l.SoundCards, cl)
	}
	return l
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
