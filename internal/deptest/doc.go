// Package deptest holds kioskd's import layering as a table (Layers, Rules)
// and the test that enforces it on the real module with `go list`, in the
// spirit of tailscale's tstest/deptest: the flow of ARCHITECTURE.md
// (devices → session → events → LEDs, logs, systemd, status) is a property
// the build checks, not a diagram that drifts.
package deptest
