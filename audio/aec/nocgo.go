//go:build !cgo

package aec

// The echo canceller is speexdsp through cgo. Refuse a build that would
// silently lose it.
var _ int = "kioskd must be built with CGO_ENABLED=1: echo cancellation needs speexdsp"
