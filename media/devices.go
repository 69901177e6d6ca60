package media

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/hw"
)

// Devices is what `kioskd devices` shows: every camera with its formats
// and sizes, the ALSA PCMs and sound cards, each with the exact value to
// put in the config.
type Devices struct {
	Cameras   []hw.Camera
	CameraErr error
	// Microphones and Speakers are the PCMs from libasound's hints.
	Microphones, Speakers []audio.PCM
	AudioErr              error // libasound could not be asked
	Cards                 []audio.Card
	CardsErr              error
}

// ListOptions points ListDevices elsewhere than the real system (tests).
type ListOptions struct {
	Cameras    hw.System // nil: hw.Linux()
	ProcAsound string    // "": /proc/asound
	Log        *slog.Logger
}

// ListDevices probes cameras, PCMs and sound cards. Failures of one kind
// are recorded in the result (CameraErr, AudioErr, CardsErr), not returned:
// the listing shows what it could find. The error is only ctx's.
func ListDevices(ctx context.Context, opt ListOptions) (Devices, error) {
	var d Devices
	sys := opt.Cameras
	if sys == nil {
		sys = hw.Linux()
	}
	d.Cameras, d.CameraErr = hw.Cameras(ctx, sys)
	if err := ctx.Err(); err != nil {
		return d, err
	}
	d.Microphones, d.Speakers, d.AudioErr = audio.ListPCMs(opt.Log)
	d.Cards, d.CardsErr = audio.Cards(opt.ProcAsound)
	return d, ctx.Err()
}

// WriteText renders the listing for a person, with the config values.
func (d Devices) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	p("CAMERAS (media.camera)\n")
	if d.CameraErr != nil {
		p("  error: %v\n", d.CameraErr)
	}
	if len(d.Cameras) == 0 {
		p("  none found; use camera: none (or test for the synthetic pattern)\n")
	}
	for _, c := range d.Cameras {
		p("  %s\n", c.Path)
		p("    card:\t%s\n", c.Card)
		p("    node:\t%s\n", c.Node)
		if c.Driver != "" || c.Bus != "" {
			p("    driver:\t%s  bus: %s\n", c.Driver, c.Bus)
		}
		switch {
		case c.Err != nil:
			p("    status:\tcannot query: %v\n", c.Err)
		case !c.Capture:
			p("    status:\tnot a video capture device (e.g. UVC metadata node); not usable\n")
		default:
			if ch, err := c.Choose(hw.Size{Width: 640, Height: 480}); err != nil {
				p("    status:\tunusable: %v\n", err)
			} else {
				p("    status:\tusable; at 640x480 kioskd captures %s\n", ch)
			}
		}
		for _, f := range c.Formats {
			var sizes []string
			for _, s := range f.AllSizes() {
				sizes = append(sizes, s.String())
			}
			note := ""
			if !f.PixelFormat.Supported() {
				note = " (not supported)"
			} else if !f.PixelFormat.Raw() {
				note = " (compressed; used only without a raw format)"
			}
			p("    format %s:\t%s%s\n", f.PixelFormat, strings.Join(sizes, " "), note)
		}
		if c.Usable() {
			p("    config:\tcamera: %s\n", quoteYAML(c.Path))
			if c.Card != "" {
				p("    or:\tcamera: %s   (by card name)\n", quoteYAML(c.Card))
			}
		}
	}

	p("\nMICROPHONES (media.microphone; ALSA PCMs)\n")
	if d.AudioErr != nil {
		p("  error: %v\n", d.AudioErr)
	}
	for _, m := range d.Microphones {
		p("  microphone: %s\t%s\n", quoteYAML(m.Name), m.Description)
	}
	p("\nSPEAKERS (media.speaker; ALSA PCMs)\n")
	if d.AudioErr != nil {
		p("  error: %v\n", d.AudioErr)
	}
	for _, s := range d.Speakers {
		p("  speaker: %s\t%s\n", quoteYAML(s.Name), s.Description)
	}

	p("\nSOUND CARDS (/proc/asound)\n")
	if d.CardsErr != nil {
		p("  error: %v\n", d.CardsErr)
	}
	if len(d.Cards) == 0 {
		p("  none\n")
	}
	for _, c := range d.Cards {
		p("  card %d [%s]: %s (%s)\n", c.Index, c.ID, c.Name, c.Driver)
		for _, pcm := range c.PCMs {
			if pcm.Capture {
				p("    device %d %s:\tmicrophone: %s\n", pcm.Device, pcm.Name, quoteYAML(pcm.Config(c)))
			}
			if pcm.Playback {
				p("    device %d %s:\tspeaker: %s\n", pcm.Device, pcm.Name, quoteYAML(pcm.Config(c)))
			}
		}
	}
	p("\nAlso: none (no device), test (synthetic camera pattern / 440 Hz tone).\n")
	return tw.Flush()
}

// quoteYAML quotes a value when YAML would not read it back as the same
// plain string.
func quoteYAML(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	switch strings.ToLower(s) {
	case "yes", "no", "true", "false", "on", "off", "null", "~":
		return fmt.Sprintf("%q", s)
	}
	return s
}
