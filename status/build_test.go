package status

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kioskd/kioskd/internal/version"
)

// TestBuildInfo: kioskd_build_info is 1 with the version, the commit set
// at link time and the Go version as labels.
func TestBuildInfo(t *testing.T) {
	oldV, oldC := version.Version, version.Commit
	t.Cleanup(func() { version.Version, version.Commit = oldV, oldC })
	version.Version, version.Commit = "1.2.3", "0123456789abcdef0123456789abcdef01234567"
	reg := prometheus.NewRegistry()
	reg.MustRegister(newBuildInfo())
	want := `
# HELP kioskd_build_info kioskd's version, the commit it was built from and the Go version, as labels; always 1.
# TYPE kioskd_build_info gauge
kioskd_build_info{commit="0123456789abcdef0123456789abcdef01234567",goversion="` + runtime.Version() + `",version="1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kioskd_build_info"); err != nil {
		t.Fatal(err)
	}
	version.Commit = ""
	if c := commit(); c == "" {
		t.Fatal("no commit label without a link-time commit")
	}
}
