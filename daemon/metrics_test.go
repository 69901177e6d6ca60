package daemon_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// TestSendMetricsMatchServer: the daemon with status.metrics_listen
// against dpsim. While Connected, kioskd_media_frames_sent_total for video
// (VP8 frames) and audio (Opus packets) grows from one metrics update to
// the next, agrees with what dpsim received (its video.frames and
// audio.packets) read right after an update, and the send and receive
// bitrates are set.
func TestSendMetricsMatchServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	cfg.Status.MetricsListen = freeAddr(t)
	addr := cfg.Status.MetricsListen
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{Log: testlog.New(t, slog.LevelInfo), Observers: []func(<-chan contract.Event){rec.Observe}})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	id := connectedIDs(rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 }))[0]

	const (
		video = `kioskd_media_frames_sent_total{kind="video"}`
		audio = `kioskd_media_frames_sent_total{kind="audio"}`
		vbps  = `kioskd_media_bitrate_bits_per_second{direction="send",kind="video"}`
		abps  = `kioskd_media_bitrate_bits_per_second{direction="send",kind="audio"}`
		rvbps = `kioskd_media_bitrate_bits_per_second{direction="receive",kind="video"}`
		rabps = `kioskd_media_bitrate_bits_per_second{direction="receive",kind="audio"}`
	)
	// Metrics are updated every 5 s. Poll until two updates with media have
	// been seen; at each, read dpsim's counts at once.
	var updates []map[string]float64
	var server []dpsim.SessionInfo
	var prev map[string]float64
	for len(updates) < 2 {
		m, err := scrape(ctx, "http://"+addr+"/metrics")
		if ctx.Err() != nil {
			t.Fatalf("metrics updates with media sent seen: %v; last scrape: %v", updates, prev)
		}
		if err == nil && m[video] > 0 && m[audio] > 0 && (prev == nil || m[video] != prev[video] || m[audio] != prev[audio]) {
			var got dpsim.SessionInfo
			for _, s := range dp.Sessions() {
				if s.ID == id {
					got = s
				}
			}
			updates, server = append(updates, m), append(server, got)
		}
		if err == nil {
			prev = m
		}
		select {
		case <-time.After(50 * time.Millisecond): // polling an HTTP endpoint, with the deadline above
		case <-ctx.Done():
		}
	}
	for i, m := range updates {
		s := server[i]
		t.Logf("update %d: kioskd sent %v video frames, %v audio packets (%.0f, %.0f bit/s); dpsim received %d frames (%d dropped), %d audio packets; kioskd receives %.0f, %.0f bit/s",
			i, m[video], m[audio], m[vbps], m[abps], s.Video.Frames, s.Video.Dropped, s.Audio.Packets, m[rvbps], m[rabps])
		// dpsim is read just after the update: it has everything counted in
		// it (loopback), and little more (a fraction of a second of media).
		near := func(what string, sent float64, recv int64, slack float64) {
			if r := float64(recv); sent > r+2 || r-sent > slack+0.1*r {
				t.Errorf("update %d: kioskd counted %v %s sent, dpsim received %d", i, sent, what, recv)
			}
		}
		near("video frames", m[video], s.Video.Frames+s.Video.Dropped, 5)
		near("audio packets", m[audio], s.Audio.Packets, 25)
		if m[vbps] <= 0 || m[abps] <= 0 {
			t.Errorf("update %d: send bitrate video %v, audio %v; want > 0", i, m[vbps], m[abps])
		}
		// The DP's voice is Opus at about 32 kbit/s, its video a few
		// dozen kbit/s; both must read as flowing.
		if m[rvbps] <= 0 || m[rabps] < 8000 {
			t.Errorf("update %d: receive bitrate video %v, audio %v; want > 0 and >= 8 kbit/s", i, m[rvbps], m[rabps])
		}
	}
	if !(updates[1][video] > updates[0][video] && updates[1][audio] > updates[0][audio]) {
		t.Fatalf("frames sent did not grow while Connected: %v then %v", updates[0], updates[1])
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
