package daemon

import (
	"context"
	"time"

	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/status"
)

// metricsInterval is how often the media metrics are updated.
const metricsInterval = 5 * time.Second

// feedMediaMetrics copies what the calls sent to the Digital Person and
// what the sink (if any) received from it into the metrics every
// interval: frames, packets and payload bytes since the last update.
func feedMediaMetrics(ctx context.Context, every time.Duration, sink *media.Sink, sent func() session.SendStats, m *status.MediaMetrics) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last media.SinkStats
	lastSent := sent()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if sink != nil {
				st := sink.Stats()
				m.AddReceived(status.MediaCounts{
					VideoFrames: st.VideoFrames - last.VideoFrames, AudioPackets: st.AudioPackets - last.AudioPackets,
					VideoBytes: st.VideoBytes - last.VideoBytes, AudioBytes: st.AudioBytes - last.AudioBytes,
				})
				last = st
			}
			s := sent()
			m.AddSent(status.MediaCounts{
				VideoFrames: s.VideoFrames - lastSent.VideoFrames, AudioPackets: s.AudioPackets - lastSent.AudioPackets,
				VideoBytes: s.VideoBytes - lastSent.VideoBytes, AudioBytes: s.AudioBytes - lastSent.AudioBytes,
			})
			lastSent = s
		}
	}
}

// deviceHealth is what media sources and sinks built from the config
// report (media.Source.Health, media.Sink.Health); a source or sink a test
// provides may not.
type deviceHealth interface{ Health() []media.DeviceHealth }

// watchHealth has the metrics read the devices' and the LEDs' health at
// each scrape (kioskd_device_up, kioskd_leds_up).
func (d *Daemon) watchHealth(h *status.HealthMetrics) {
	var parts []deviceHealth
	if s, ok := d.src.(deviceHealth); ok {
		parts = append(parts, s)
	}
	if d.sink != nil {
		parts = append(parts, d.sink)
	}
	h.WatchDevices(func() []status.Health {
		var out []status.Health
		for _, p := range parts {
			for _, dh := range p.Health() {
				out = append(out, status.Health{Name: dh.Device, Up: dh.Up})
			}
		}
		return out
	})
	h.WatchLEDs(d.cfg.LEDs.Backend, d.ledsUp)
}
