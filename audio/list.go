package audio

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gen2brain/malgo"
)

// PCM is an ALSA PCM from the configuration's hints (what `aplay -L`
// lists): its name is exactly what goes into kioskd's config.
type PCM struct {
	Name        string // e.g. "default", "plughw:CARD=Device,DEV=0", "mic"
	Description string
}

// ListPCMs returns the capture and playback PCMs that libasound's hints
// list (the system's and asound.conf's PCMs that carry a `hint`). It loads
// libasound, so it fails with ErrNoALSA where there is none.
func ListPCMs(log *slog.Logger) (capture, playback []PCM, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	withALSALines(log, func() { capture, playback, err = listPCMs(log) })
	return capture, playback, err
}

func listPCMs(log *slog.Logger) (capture, playback []PCM, err error) {
	ctx, err := malgo.InitContext([]malgo.Backend{malgo.BackendAlsa},
		malgo.ContextConfig{Alsa: malgo.AlsaContextConfig{UseVerboseDeviceEnumeration: 1}},
		func(msg string) { log.Debug("miniaudio", "msg", strings.TrimSpace(msg)) })
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNoALSA, err)
	}
	defer freeContext(ctx)
	conv := func(kind malgo.DeviceType) ([]PCM, error) {
		infos, err := ctx.Devices(kind)
		if err != nil {
			return nil, err
		}
		var out []PCM
		seen := map[string]bool{}
		for _, in := range infos {
			name := string(bytes.TrimRight(in.ID[:], "\x00"))
			if name == "" || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, PCM{Name: name, Description: in.Name()})
		}
		return out, nil
	}
	if capture, err = conv(malgo.Capture); err != nil {
		return nil, nil, err
	}
	if playback, err = conv(malgo.Playback); err != nil {
		return nil, nil, err
	}
	return capture, playback, nil
}

// Card is a sound card from /proc/asound with its PCM devices.
type Card struct {
	Index  int
	ID     string // e.g. "Device", "PCH"
	Driver string
	Name   string
	PCMs   []CardPCM
}

// CardPCM is one PCM device of a card.
type CardPCM struct {
	Device   int
	Name     string
	Playback bool
	Capture  bool
}

// Config is the PCM to configure for this device: plughw by card id (stable
// across card renumbering; plug converts to 48 kHz mono 16-bit).
func (p CardPCM) Config(c Card) string {
	return fmt.Sprintf("plughw:CARD=%s,DEV=%d", c.ID, p.Device)
}

var cardLine = regexp.MustCompile(`^\s*(\d+)\s+\[([^\]]*)\]:\s*(\S+)\s+-\s+(.*)$`)

// Cards reads the sound cards and their PCM devices from procRoot
// ("/proc/asound", or a copy in tests). No /proc/asound means no cards.
func Cards(procRoot string) ([]Card, error) {
	if procRoot == "" {
		procRoot = "/proc/asound"
	}
	f, err := os.Open(filepath.Join(procRoot, "cards"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	var cards []Card
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := cardLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[1])
		cards = append(cards, Card{Index: idx, ID: strings.TrimSpace(m[2]), Driver: m[3], Name: strings.TrimSpace(m[4])})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// /proc/asound/pcm: "01-00: USB Audio : USB Audio : playback 1 : capture 1"
	if b, err := os.ReadFile(filepath.Join(procRoot, "pcm")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Split(line, ":")
			if len(fields) < 3 {
				continue
			}
			var card, dev int
			if _, err := fmt.Sscanf(strings.TrimSpace(fields[0]), "%d-%d", &card, &dev); err != nil {
				continue
			}
			p := CardPCM{Device: dev, Name: strings.TrimSpace(fields[1])}
			for _, f := range fields[3:] {
				f = strings.TrimSpace(f)
				p.Playback = p.Playback || strings.HasPrefix(f, "playback")
				p.Capture = p.Capture || strings.HasPrefix(f, "capture")
			}
			for i := range cards {
				if cards[i].Index == card {
					cards[i].PCMs = append(cards[i].PCMs, p)
				}
			}
		}
	}
	sort.Slice(cards, func(i, j int) bool { return cards[i].Index < cards[j].Index })
	return cards, nil
}
