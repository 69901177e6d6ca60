//go:build !cgo

package hw

// kioskd's camera (V4L2 through cgo), VP8 encoder (libvpx), Opus codec
// (libopus) and ALSA audio (miniaudio) all need cgo. A build without it
// would silently lose them, so it is refused here:
//
//	CGO_ENABLED=1 go build ./cmd/kioskd   (cross: CC=aarch64-linux-gnu-gcc)
var _ int = "kioskd must be built with CGO_ENABLED=1: camera, VP8, Opus and ALSA need cgo"
