package dpsim

import (
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec/opus"

	"github.com/kioskd/kioskd/av/vp8enc"
)

// Codecs returns the Digital Person's encoders: VP8 at videoBitrate bits/s
// on libvpx set up for real time (av/vp8enc, on a thread of its own so that
// no P is held in a cgo call for the milliseconds of every frame), and Opus
// (libopus through mediadevices, 32 kbit/s). These are the parameters the
// kiosk uses too, written here again on purpose: dpsim is a second
// implementation of docs/PROTOCOL.md and takes nothing from the client.
func Codecs(videoBitrate int) (*mediadevices.CodecSelector, error) {
	vp8, err := vp8enc.NewParams()
	if err != nil {
		return nil, err
	}
	if videoBitrate > 0 {
		vp8.BitRate = videoBitrate
	}
	vp8.OwnThread = true
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
