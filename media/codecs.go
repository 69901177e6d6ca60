// Package media turns the kiosk's camera and microphone (or synthetic
// stand-ins) into WebRTC tracks for the session, and takes the Digital
// Person's tracks back. It implements session.MediaSource and MediaSink.
package media

import (
	"github.com/pion/mediadevices"

	"github.com/kioskd/kioskd/av/vp8enc"
)

// Codecs returns the codec selector for sending: VP8 at videoBitrate bits/s
// on libvpx set up for real time as WebRTC does it (av/vp8enc: CBR,
// real-time deadline, cpu-used -6, no lag, error resilient, key frames at
// least every 3 s and on PLI; on a thread of its own), and Opus (libopus
// through av/opus: VoIP, 20 ms frames, 32 kbit/s, in-band FEC sized by
// the loss congestion control measures; see opusParams).
func Codecs(videoBitrate int) (*mediadevices.CodecSelector, error) {
	vp8, err := vp8enc.NewParams()
	if err != nil {
		return nil, err
	}
	if videoBitrate > 0 {
		vp8.BitRate = videoBitrate
	}
	// libvpx on its own thread: no P held in a cgo call for the
	// milliseconds of every frame (see vp8enc.Params.OwnThread).
	vp8.OwnThread = true
	op := opusParams{}
	op.BitRate = 32000
	return mediadevices.NewCodecSelector(
		mediadevices.WithVideoEncoders(&vp8),
		mediadevices.WithAudioEncoders(&op),
	), nil
}
