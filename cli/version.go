package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/kioskd/kioskd/internal/version"
)

// versionInfo is `kioskd version --json`. The commit and its date come
// from the Go toolchain's VCS stamp (absent when built outside a git
// checkout); there is no build date, so that two builds of one commit are
// the same bytes (reproducible .debs).
type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	CommitDate string `json:"commit_date,omitempty"`
	Modified   bool   `json:"modified,omitempty"` // built from a checkout with uncommitted changes
	Go         string `json:"go_version"`
	Platform   string `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: version.Version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.time":
				v.CommitDate = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	return v
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", stderr)
	asJSON := fs.Bool("json", false, "print version, commit, commit date, Go version and platform as JSON")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	v := buildVersion()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return exitOK
	}
	commit := ""
	if len(v.Commit) >= 12 {
		commit = "commit " + v.Commit[:12]
		if v.Modified {
			commit += "+changes"
		}
		commit += ", "
	}
	// The platform stays last: packaging/ci.sh matches "(….linux/arm64)".
	fmt.Fprintf(stdout, "kioskd %s (%s%s, %s)\n", v.Version, commit, v.Go, v.Platform)
	return exitOK
}
