package cli

import (
	"strings"
	"testing"
	"time"
)

// Without a livekit-server binary, `kioskd demo --dialect livekit` says
// where it looked and how to get one, and fails.
func TestLiveKitDemoWithoutServerSaysHowToGetIt(t *testing.T) {
	t.Setenv(envLiveKitServer, "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("KIOSKD_CACHE", t.TempDir())
	var out, errOut strings.Builder
	code := Main([]string{"demo", "--dialect", "livekit", "--for", "1s"}, &out, &errOut)
	e := errOut.String()
	if code != exitFail || out.Len() != 0 {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
	for _, want := range []string{"kioskd demo: --dialect livekit needs livekit-server v1.13.5, and there is none",
		"scripts/livekit-server.sh", "go install github.com/livekit/livekit-server/cmd/server@v1.13.5", envLiveKitServer} {
		if !strings.Contains(e, want) {
			t.Errorf("stderr lacks %q:\n%s", want, e)
		}
	}
	// A variable that names no executable is said so, not passed over.
	t.Setenv(envLiveKitServer, "/nonexistent/livekit-server")
	errOut.Reset()
	if code := runLiveKitDemo(demoOptions{For: time.Second}, &out, &errOut); code != exitFail ||
		!strings.Contains(errOut.String(), "/nonexistent/livekit-server (not an executable file)") {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	// An unknown dialect is a usage error.
	errOut.Reset()
	if code := Main([]string{"demo", "--dialect", "sip"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), `--dialect "sip": want kioskd or livekit`) {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
}
