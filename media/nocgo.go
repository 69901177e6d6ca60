//go:build !cgo

package media

// The camera, the VP8 encoder (libvpx), Opus (libopus) and ALSA audio need
// cgo; without it mediadevices silently drops them. Refuse such a build:
//
//	CGO_ENABLED=1 go build ./cmd/kioskd
var _ int = "kioskd must be built with CGO_ENABLED=1: camera, VP8, Opus and ALSA need cgo"
