package livekit

import (
	"errors"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/internal/clock"
)

// The Digital Person's media, watched for silence (docs/LIVEKIT.md): a DP
// that crashed (its process killed, its host gone) stays in the room for
// about 22 s, until livekit-server times its participant out
// (CONNECTION_TIMEOUT), and the visitor would face a frozen face for that
// long. LiveKit forwards every packet the DP sends (an agent's voice track
// carries packets through its silences too), so no RTP of the DP's voice
// for DefaultDPSilence, on a media path that works, is the DP gone:
// the same reaction as its leaving, conversationEnded.
//
// "A media path that works": the subscriber PeerConnection's ICE is
// connected and no resume is under way. A path that breaks goes ICE
// disconnected after 3 s without traffic (rtc.NewWebRTCAPI), before the
// silence bound, so an outage of the kiosk's own network is a resume, a
// rejoin or mediaStreamFailed, never the DP's silence. A DP that mutes its
// voice (TrackInfo.muted) is not silent either.

// DefaultDPSilence is the bound, server.livekit.dp_silence's default
// (written once, in config): longer than the ICE disconnected timeout
// (3 s, see above) and than a jitter buffer's worst gap, short enough that
// a visitor sees the DP gone within seconds rather than LiveKit's 22.
const DefaultDPSilence = config.DefaultDPSilence

// silencePoll is how often the DP's last packet time is read: pion's stats of
// the whole subscriber PeerConnection (its only public counter of a
// remote track's packets), which cost a Connected kiosk about 0.02 cores
// read every second (`make bench-livekit`, 0.064 → 0.086) and half that
// every 2 s (0.068). The silence is then seen 5 to 7 s after the last
// packet.
const silencePoll = 2 * time.Second

// ErrDPSilent is logged when the DP's voice stopped on a working path.
var ErrDPSilent = errors.New("livekit: the Digital Person's voice stopped arriving")

// silenceState is the watch (owned by run).
type silenceState struct {
	ssrc   map[string]webrtc.SSRC // the audio SSRC of each participant, by SID
	ticker clock.Ticker
	armed  time.Time // since when the watch is armed: silence counts from here at the earliest
}

func (c *call) dpSilence() time.Duration {
	if c.d.cfg.DPSilence > 0 {
		return c.d.cfg.DPSilence
	}
	return DefaultDPSilence
}

// startSilence arms the watch when the call reaches Connected (unless it
// is configured off).
func (c *call) startSilence() {
	if c.sil.ticker == nil && c.d.cfg.DPSilence >= 0 {
		c.sil.ticker = c.d.cfg.Clock.NewTicker(silencePoll)
		c.sil.armed = c.d.cfg.Clock.Now()
	}
}

func (c *call) stopSilence() {
	if c.sil.ticker != nil {
		c.sil.ticker.Stop()
		c.sil.ticker = nil
	}
}

// silenceTick is the watch's ticker; nil (never ready) before Connected.
func (c *call) silenceTick() <-chan time.Time {
	if c.sil.ticker == nil {
		return nil
	}
	return c.sil.ticker.C()
}

// silenceCheck reads when the DP's voice last brought a packet; silent
// past the bound on a working path, the call ends with conversationEnded
// (false).
func (c *call) silenceCheck() bool {
	now := c.d.cfg.Clock.Now()
	ssrc, ok := c.sil.ssrc[c.dp]
	if !ok || c.rs.active || c.sub.ICEConnectionState() != webrtc.ICEConnectionStateConnected || c.dpMuted() {
		c.sil.armed = now // disarmed: the silence counts from when it is armed again
		return true
	}
	last, ok := c.lastPacketOf(ssrc)
	if !ok {
		c.sil.armed = now
		return true
	}
	if c.sil.armed.After(last) {
		last = c.sil.armed
	}
	if now.Sub(last) < c.dpSilence() {
		return true
	}
	c.log.Warn("the Digital Person is silent; ending the conversation", "identity", c.peers[c.dp].Identity,
		"silent_ms", now.Sub(last).Milliseconds(), "error", ErrDPSilent)
	c.result.Reason = contract.ReasonConversationEnded
	return false
}

// dpMuted says the DP muted its voice.
func (c *call) dpMuted() bool {
	for _, t := range c.peers[c.dp].Tracks {
		if t.Type == trackAudio && t.Muted {
			return true
		}
	}
	return false
}

// lastPacketOf is when the subscriber's stream ssrc last brought a
// packet, from pion's stats interceptor.
func (c *call) lastPacketOf(ssrc webrtc.SSRC) (time.Time, bool) {
	for _, s := range c.sub.GetStats() {
		if in, ok := s.(webrtc.InboundRTPStreamStats); ok && in.SSRC == ssrc && in.PacketsReceived > 0 {
			return in.LastPacketReceivedTimestamp.Time(), true
		}
	}
	return time.Time{}, false
}
