// Package version holds kioskd's version, set at link time:
// go build -ldflags "-X github.com/kioskd/kioskd/internal/version.Version=1.2.3"
package version

// Version is the release version; "dev" for a plain go build.
var Version = "dev"
