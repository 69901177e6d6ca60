package media

import "github.com/pion/webrtc/v4"

// DeviceHealth is how one configured device is doing, for the metrics
// (kioskd_device_up): Up until its open fails or it stops, then down until
// it opens again. A device that has not been needed yet counts as up.
type DeviceHealth struct {
	Device string // camera, microphone or speaker
	Up     bool
}

// Health reports the configured capture devices (none for a kind set to
// none): the camera, then the microphone.
func (s *Source) Health() []DeviceHealth {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DeviceHealth
	for _, k := range s.Kinds() {
		out = append(out, DeviceHealth{Device: deviceName(k), Up: !s.down[k]})
	}
	return out
}

// setDown records whether kind's last open failed; s.mu not held.
func (s *Source) setDown(kind webrtc.RTPCodecType, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markDownLocked(kind, down)
}

// markDown records a failed track of kind; s.mu held.
func (s *Source) markDown(kind webrtc.RTPCodecType) { s.markDownLocked(kind, true) }

func (s *Source) markDownLocked(kind webrtc.RTPCodecType, down bool) {
	if s.down == nil {
		s.down = map[webrtc.RTPCodecType]bool{}
	}
	s.down[kind] = down
}

// Health reports the speaker, if one is configured: down after it failed
// to open or stopped, until it opens again (it opens with the Digital
// Person's first words).
func (s *Sink) Health() []DeviceHealth {
	if !configured(s.cfg.Speaker) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return []DeviceHealth{{Device: "speaker", Up: !s.speakerDown}}
}
