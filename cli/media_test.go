package cli

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
)

// TestRealMediaThroughALSA: the kioskd process with `camera: test` at
// 640x480, a microphone that is a real ALSA `file` PCM playing 440 Hz and
// a speaker that is a `file` PCM. dpsim's admin API (GET /sessions) shows
// the video frames at 640x480 and a dominant frequency of 440 Hz; the
// speaker file holds the DP's 880 Hz voice.
func TestRealMediaThroughALSA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario(), VideoWidth: 160, VideoHeight: 120})
	lab := writeLab(t, dp, "")
	asound, speaker := alsaLab(t, lab)
	p := startKioskd(t, []string{"ALSA_CONFIG_PATH=" + asound}, "run", "--config", lab.config, "--log-format", "json")
	id := connectedIDs(p.waitRecords(t, ctx, "Connected", nConnected(1)))[0]

	// Ask dpsim through its admin HTTP API, as an integrator would.
	var got dpsim.SessionInfo
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, dp.AdminURL+"/sessions", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list []dpsim.SessionInfo
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.ID == id {
				got = s
			}
		}
		if got.Video.Frames >= 10 && got.Video.Width == 640 && got.Video.Height == 480 &&
			got.Audio.WindowMS >= 500 && got.Audio.DominantHz >= 430 && got.Audio.DominantHz <= 450 {
			break
		}
		// The admin API has no change stream; wait for the server's next change.
		select {
		case <-dp.DP.Changed():
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("dpsim saw video %+v audio %+v; want 640x480 frames and 430-450 Hz", got.Video, got.Audio)
	}
	t.Logf("dpsim: video %+v audio %+v", got.Video, got.Audio)

	checkSpeaker(t, ctx, p, speaker, 880)
}

// alsaLab makes lab's kioskd capture 640x480 at 15 fps and use ALSA file
// PCMs: a microphone playing 440 Hz (paced) and a speaker written to a
// file. It returns the ALSA configuration (ALSA_CONFIG_PATH) and the
// speaker file.
func alsaLab(t *testing.T, lab labFiles) (asound, speaker string) {
	t.Helper()
	tone := filepath.Join(lab.dir, "tone.raw")
	if err := audiotest.WriteToneFile(tone, 440, 30); err != nil {
		t.Fatal(err)
	}
	speaker = filepath.Join(lab.dir, "speaker.raw")
	asound, err := audiotest.WriteConfig(lab.dir, "kioskmic", tone, "kioskspk", speaker)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(lab.config)
	c := string(cfg)
	c = strings.Replace(c, "  width: 160\n  height: 120\n  fps: 10\n", "  width: 640\n  height: 480\n  fps: 15\n", 1)
	c = strings.Replace(c, "  microphone: test\n  speaker: none\n", "  microphone: kioskmic\n  microphone_pace: true\n  speaker: kioskspk\n", 1)
	if err := os.WriteFile(lab.config, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	return asound, speaker
}

// checkSpeaker waits until a second of the DP's voice has been written to
// the speaker file, stops kioskd (SIGTERM, exit 0) and checks that the
// voice is hz.
func checkSpeaker(t *testing.T, ctx context.Context, p *proc, speaker string, hz float64) {
	t.Helper()
	for ctx.Err() == nil {
		if fi, err := os.Stat(speaker); err == nil && fi.Size() >= 48000*2*2 {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exited; err != nil {
		t.Fatalf("exit: %v", err)
	}
	pcm, err := audiotest.ReadRawFile(speaker)
	if err != nil {
		t.Fatal(err)
	}
	var voiced []int16
	for _, s := range pcm {
		if s != 0 || len(voiced) > 0 {
			voiced = append(voiced, s)
		}
	}
	if len(voiced) < 24000 {
		t.Fatalf("speaker wrote %d voiced samples, want at least half a second", len(voiced))
	}
	if got := analysis.DominantHz(voiced, 48000); math.Abs(got-hz) > 10 {
		t.Fatalf("speaker played %.1f Hz, want %.0f±10", got, hz)
	}
}
