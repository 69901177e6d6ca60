// Package version holds kioskd's version, set at link time:
// go build -ldflags "-X github.com/kioskd/kioskd/internal/version.Version=1.2.3"
package version

// Version is the release version; "dev" for a plain go build.
var Version = "dev"

// Commit is the git commit the binary was built from, set at link time
// like Version (-X …/internal/version.Commit=$(git rev-parse HEAD)) by
// the Makefile and the .deb build; "" otherwise, when the metrics'
// kioskd_build_info falls back to what the Go toolchain stamped.
var Commit = ""
