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
// against dpsim. While Connected, kioskd_media_video_frames_sent_total
// (VP8 frames) and kioskd_media_audio_packets_sent_total (Opus packets)
// grow from one metrics update to the next, agree with what dpsim
// received (its video.frames and audio.packets) read right after an
// update, and the byte counters of both directions grow.
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
		video = `kioskd_media_video_frames_sent_total`
		audio = `kioskd_media_audio_packets_sent_total`
		vb    = `kioskd_media_sent_bytes_total{kind="video"}`
		ab    = `kioskd_media_sent_bytes_total{kind="audio"}`
		rvb   = `kioskd_media_received_bytes_total{kind="video"}`
		rab   = `kioskd_media_received_bytes_total{kind="audio"}`
		rvf   = `kioskd_media_video_frames_received_total`
		rap   = `kioskd_media_audio_packets_received_total`
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
		t.Logf("update %d: kioskd sent %v video frames, %v audio packets (%.0f, %.0f bytes); dpsim received %d frames (%d dropped), %d audio packets; kioskd received %v frames, %v packets (%.0f, %.0f bytes)",
			i, m[video], m[audio], m[vb], m[ab], s.Video.Frames, s.Video.Dropped, s.Audio.Packets, m[rvf], m[rap], m[rvb], m[rab])
		// dpsim is read just after the update: it has everything counted in
		// it (loopback), and little more (a fraction of a second of media).
		near := func(what string, sent float64, recv int64, slack float64) {
			if r := float64(recv); sent > r+2 || r-sent > slack+0.1*r {
				t.Errorf("update %d: kioskd counted %v %s sent, dpsim received %d", i, sent, what, recv)
			}
		}
		near("video frames", m[video], s.Video.Frames+s.Video.Dropped, 5)
		near("audio packets", m[audio], s.Audio.Packets, 25)
		if m[vb] <= 0 || m[ab] <= 0 || m[rvf] <= 0 || m[rap] <= 0 {
			t.Errorf("update %d: sent bytes video %v, audio %v, received frames %v, packets %v; want > 0", i, m[vb], m[ab], m[rvf], m[rap])
		}
		// The DP's voice is Opus at about 32 kbit/s: at least 1 kB per
		// second of it must read as received, and so at least 50 bytes a
		// packet.
		if m[rvb] <= 0 || m[rab] < 50*m[rap] {
			t.Errorf("update %d: received bytes video %v, audio %v for %v packets; want > 0 and >= 50 a packet", i, m[rvb], m[rab], m[rap])
		}
	}
	for _, k := range []string{video, audio, vb, ab, rvb, rab} {
		if !(updates[1][k] > updates[0][k]) {
			t.Errorf("%s did not grow while Connected: %v then %v", k, updates[0][k], updates[1][k])
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
