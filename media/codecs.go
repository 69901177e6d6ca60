// Package media turns the kiosk's camera and microphone (or synthetic
// stand-ins) into WebRTC tracks for the session, and takes the Digital
// Person's tracks back. It implements session.MediaSource and MediaSink.
package media

import (
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec/opus"
	"github.com/pion/mediadevices/pkg/codec/vpx"
)

// Codecs returns the codec selector for sending: VP8 at videoBitrate bits/s
// and Opus. (The real-time libvpx settings come with the media issue.)
func Codecs(videoBitrate int) (*mediadevices.CodecSelector, error) {
	vp8, err := vpx.NewVP8Params()
	if err != nil {
		return nil, err
	}
	vp8.BitRate = videoBitrate
	vp8.KeyFrameInterval = 60
	op, err := opus.NewParams()
	if err != nil {
		return nil, err
	}
	op.BitRate = 32000
	return mediadevices.NewCodecSelector(
		mediadevices.WithVideoEncoders(&vp8),
		mediadevices.WithAudioEncoders(&op),
	), nil
}
