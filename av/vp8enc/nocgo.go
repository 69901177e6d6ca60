//go:build !cgo

package vp8enc

// libvpx needs cgo; refuse a build that would silently lose the encoder.
var _ int = "kioskd must be built with CGO_ENABLED=1: camera, VP8, Opus and ALSA need cgo"
