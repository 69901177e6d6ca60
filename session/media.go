package session

import (
	"context"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dialect"
)

// MediaSource gives the session the kiosk's tracks to send. Implementations
// live in package media (synthetic, V4L2 camera, ALSA microphone).
type MediaSource interface {
	// Tracks opens the devices if they are not open yet and returns the
	// tracks to send. The same tracks are bound to every new PeerConnection
	// until Reset. A missing required device is a *ConnectError named
	// NoUserMedia, an unusable one NotSupported. An optional device left
	// out may be tried again by a later Tracks (the supervisor calls it on
	// a device change mid-call); the tracks already handed out stay the same.
	Tracks(ctx context.Context) ([]webrtc.TrackLocal, error)
	// Failed delivers an error when an open capture track fails (a device
	// lost mid-session); the session reacts with mediaStreamFailed.
	Failed() <-chan error
	// Reset closes every open track exactly once, so the next Tracks
	// reopens the devices.
	Reset() error
	// Close releases everything.
	Close() error
}

// MediaKinds is implemented by a MediaSource that knows which kinds it is
// configured to send, whether the devices are present now or not (a
// camera marked optional and not plugged in yet). Every call then offers a
// send track for each of these kinds; while a device is missing nothing
// is sent on its track, and when the device appears mid-call (Tracks
// hands out a new track after a device change) its capture is bound to
// the call's track at once: no renegotiation, no reconnect.
type MediaKinds interface {
	Kinds() []webrtc.RTPCodecType
}

// MediaSink takes the Digital Person's tracks (voice to the speaker, video
// to accounting). HandleTrack runs in its own goroutine per track and must
// return when the track ends or ctx is done.
type MediaSink interface {
	HandleTrack(ctx context.Context, track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver)
}

// NoMedia is a MediaSource with no tracks, for receive-only sessions and tests.
type NoMedia struct{}

func (NoMedia) Tracks(context.Context) ([]webrtc.TrackLocal, error) { return nil, nil }
func (NoMedia) Failed() <-chan error                                { return nil }
func (NoMedia) Reset() error                                        { return nil }
func (NoMedia) Close() error                                        { return nil }

// callMedia is the kiosk's media as one call sees it (dialect.Media): the
// relays' send tracks, the sink, and the capture failures.
type callMedia struct {
	send   []dialect.SendTrack
	sink   MediaSink // nil: the DP's media is read and dropped
	failed <-chan error
}

var _ dialect.Media = callMedia{}

func newCallMedia(slots []*relay, sink MediaSink, failed <-chan error) callMedia {
	m := callMedia{sink: sink, failed: failed}
	for _, r := range slots {
		m.send = append(m.send, r.static)
	}
	return m
}

func (m callMedia) Send() []dialect.SendTrack { return m.send }
func (m callMedia) Failed() <-chan error      { return m.failed }

func (m callMedia) HandleTrack(ctx context.Context, track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	if m.sink != nil {
		m.sink.HandleTrack(ctx, track, receiver)
		return
	}
	// Read the track to its end anyway: pion's buffers fill otherwise.
	buf := make([]byte, 1500)
	for {
		if _, _, err := track.Read(buf); err != nil {
			return
		}
	}
}
