//go:build !cgo

package audio

// ALSA capture and playback go through miniaudio (cgo). Refuse a build
// that would silently lose them.
var _ int = "kioskd must be built with CGO_ENABLED=1: camera, VP8, Opus and ALSA need cgo"
