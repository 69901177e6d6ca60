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
// what the sink (if any) received from it into the metrics every interval;
// the send bitrate is the payload bytes sent over the last interval.
func feedMediaMetrics(ctx context.Context, every time.Duration, sink *media.Sink, sent func() session.SendStats, m *status.MediaMetrics) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last media.SinkStats
	lastSent, lastTime := sent(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			secs := now.Sub(lastTime).Seconds()
			if sink != nil {
				st := sink.Stats()
				m.AddFramesReceived("video", int(st.VideoFrames-last.VideoFrames))
				m.AddFramesReceived("audio", int(st.AudioPackets-last.AudioPackets))
				if secs > 0 {
					m.SetBitrate("receive", "video", float64(st.VideoBytes-last.VideoBytes)*8/secs)
					m.SetBitrate("receive", "audio", float64(st.AudioBytes-last.AudioBytes)*8/secs)
				}
				last = st
			}
			s := sent()
			m.AddFramesSent("video", int(s.VideoFrames-lastSent.VideoFrames))
			m.AddFramesSent("audio", int(s.AudioPackets-lastSent.AudioPackets))
			if secs > 0 {
				m.SetBitrate("send", "video", float64(s.VideoBytes-lastSent.VideoBytes)*8/secs)
				m.SetBitrate("send", "audio", float64(s.AudioBytes-lastSent.AudioBytes)*8/secs)
			}
			lastSent, lastTime = s, now
		}
	}
}
