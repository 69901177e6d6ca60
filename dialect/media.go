package dialect

import (
	"context"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/rtc"
)

// Media is how a call reaches the kiosk's media, whatever the dialect. The
// devices and their encoders outlive calls (the supervisor keeps them);
// a call only binds the send tracks to its PeerConnection(s) and hands
// the Digital Person's tracks back.
type Media interface {
	// Send returns the tracks to send: one per kind kioskd is configured
	// to send (camera video, microphone audio), whether its device is
	// there yet or not. A track whose device is missing sends nothing
	// until the device appears mid-call, on the same track, so a call
	// offers every one of them from the start (docs/PROTOCOL.md
	// section 8). The same tracks may be bound to any number of
	// PeerConnections, one after the other or at once.
	Send() []SendTrack
	// HandleTrack takes one of the Digital Person's tracks (its voice to
	// the speaker, its face to accounting). The call runs it in a
	// goroutine of its own per track; it returns when the track ends or
	// ctx is done, and the call waits for it before it is Done.
	HandleTrack(ctx context.Context, track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver)
	// Failed delivers an error when a capture track fails (a device lost
	// mid-session): the call ends with mediaStreamFailed (before
	// Connected, a ConnectError; after it, Result.MediaErr). May be nil.
	Failed() <-chan error
}

// SendTrack is one of the kiosk's send tracks: a pion TrackLocal to bind to
// a PeerConnection (or to publish in a room).
type SendTrack interface {
	webrtc.TrackLocal
	// RequestKeyFrame asks the track's encoder for a keyframe; a call
	// forwards the far end's picture loss indications (PLI, FIR) here.
	// An audio track or an empty one ignores it.
	RequestKeyFrame()
	// SetRate hands the track what congestion control allows the call's
	// sending (and what it measured on the path): a video track sets its
	// encoder's target bitrate and frame rate cap, every track records it
	// for the metrics. A call calls it every RateInterval while it sends (RateControl).
	SetRate(rtc.SendRate)
}
