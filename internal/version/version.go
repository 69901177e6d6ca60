// Package version holds kioskd's version and build date, set at link time:
//
//	go build -ldflags "-X github.com/kioskd/kioskd/internal/version.Version=1.2.3
//	  -X github.com/kioskd/kioskd/internal/version.BuildDate=2026-12-01T10:00:00Z"
//
// The Makefile and packaging/build.sh set both (the build date is the
// commit's, as SOURCE_DATE_EPOCH, so builds stay reproducible).
package version

import (
	"runtime/debug"
	"time"
)

// Version is the release version; "dev" for a plain go build.
var Version = "dev"

// BuildDate is the build's date in RFC 3339, set at link time; "" falls
// back to the commit time Go records (vcs.time) when built in a checkout.
var BuildDate = ""

// BuildTime is when this kioskd was built (its commit's time): a clock
// that reads earlier is wrong, whatever else it says. Zero when unknown.
func BuildTime() time.Time {
	if t, err := time.Parse(time.RFC3339, BuildDate); err == nil {
		return t
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// Commit is the git commit the binary was built from, set at link time
// like Version (-X …/internal/version.Commit=$(git rev-parse HEAD)) by
// the Makefile and the .deb build; "" otherwise, when the metrics'
// kioskd_build_info falls back to what the Go toolchain stamped.
var Commit = ""
