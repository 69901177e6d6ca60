package daemon

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kioskd/kioskd/internal/clock"
)

// DeviceDirs are where cameras and sound devices appear and vanish.
var DeviceDirs = []string{"/dev/v4l/by-id", "/dev/v4l/by-path", "/dev/snd"}

// watchDevices signals on changes whenever the set of device nodes in dirs
// (plus /dev/video*) changes, so a supervisor parked after notSupported
// tries again when a camera or sound card is plugged or replaced, and an
// optional camera or microphone plugged in mid-session joins it. Polling
// a few directory listings every interval costs next to nothing and needs
// no inotify permissions under the hardened unit.
func watchDevices(ctx context.Context, clk clock.Clock, interval time.Duration, dirs []string, changes chan<- struct{}) {
	last := deviceFingerprint(dirs)
	t := clk.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			now := deviceFingerprint(dirs)
			if now == last {
				continue
			}
			last = now
			select {
			case changes <- struct{}{}:
			default: // one pending wake-up is enough
			}
		}
	}
}

func deviceFingerprint(dirs []string) string {
	var names []string
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			names = append(names, filepath.Join(d, e.Name()))
		}
	}
	if videos, _ := filepath.Glob("/dev/video*"); len(videos) > 0 {
		names = append(names, videos...)
	}
	sort.Strings(names)
	return strings.Join(names, "\n")
}
