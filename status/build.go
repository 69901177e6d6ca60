package status

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kioskd/kioskd/internal/version"
)

// newBuildInfo is kioskd_build_info{version,commit,goversion}, always 1:
// which build a kiosk runs, for a fleet upgraded in waves. The commit is
// version.Commit, set at link time, or the one the Go toolchain stamped
// (vcs.revision, with "-dirty" for a modified tree); "unknown" without
// either.
func newBuildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_build_info",
		Help:        "kioskd's version, the commit it was built from and the Go version, as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": version.Version, "commit": commit(), "goversion": runtime.Version()}})
	g.Set(1)
	return g
}

// commit is the commit set at link time, else the VCS revision the Go
// toolchain stamped (not with -buildvcs=false), else "unknown".
func commit() string {
	if version.Commit != "" {
		return version.Commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}
