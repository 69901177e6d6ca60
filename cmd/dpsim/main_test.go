package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

func TestRunRefusesBadArguments(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	t.Setenv("DPSIM_LIVEKIT_SECRET", "")
	secret := t.TempDir() + "/secret"
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"--help"}, 0},
		{[]string{"--admin", "0.0.0.0:0", "--listen", "127.0.0.1:0"}, 2},
		{[]string{"--admin", ":8766", "--listen", "127.0.0.1:0"}, 2},
		{[]string{"--no-scene", "lots"}, 2},
		{[]string{"--log-format", "xml"}, 2},
		{[]string{"--video-size", "15x15", "--admin", ""}, 2},
		{[]string{"--tls-cert", "x.pem", "--admin", ""}, 2},
		{[]string{"--token-file", "/nonexistent/token", "--admin", ""}, 1},
		{[]string{"extra"}, 2},
		// LiveKit mode: no secret, a URL that is not ws/wss, a secret file
		// that cannot be read, bad scenario values.
		{[]string{"--livekit-url", "ws://127.0.0.1:1", "--admin", ""}, 2},
		{[]string{"--livekit-url", "http://127.0.0.1:1", "--livekit-secret-file", secret, "--admin", ""}, 2},
		{[]string{"--livekit-url", "ws://127.0.0.1:1", "--livekit-secret-file", "/nonexistent/secret", "--admin", ""}, 1},
		{[]string{"--livekit-url", "ws://127.0.0.1:1", "--livekit-secret-file", secret, "--livekit-join-delay", "-1s", "--admin", ""}, 2},
		{[]string{"--livekit-url", "ws://127.0.0.1:1", "--livekit-secret-file", secret, "--token-endpoint-refuse-status", "500", "--admin", ""}, 2},
		{[]string{"--token-endpoint-refuse", "lots"}, 2},
		{[]string{"--livekit-url", "ws://127.0.0.1:1", "--livekit-secret-file", secret, "--admin", "0.0.0.0:0"}, 2},
	} {
		if got := run(c.args, io.Discard, null); got != c.want {
			t.Errorf("dpsim %v: exit %d, want %d", c.args, got, c.want)
		}
	}
}

// TestHelpOnStdoutErrorsInOneLine: --help is the usage on stdout; a bad
// flag is one line and a hint on stderr, not the whole usage.
func TestHelpOnStdoutErrorsInOneLine(t *testing.T) {
	var out strings.Builder
	if got := run([]string{"--help"}, &out, nil); got != 0 || !strings.Contains(out.String(), "usage: dpsim") || !strings.Contains(out.String(), "-token-file") {
		t.Fatalf("--help: exit %d, stdout %q", got, out.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out.Reset()
	if got := run([]string{"--token", "T"}, &out, f); got != 2 {
		t.Fatalf("--token: exit %d", got)
	}
	b, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "flag provided but not defined: -token") || lines[1] != "run 'dpsim --help' for usage" || out.Len() != 0 {
		t.Fatalf("--token: stderr %q, stdout %q", b, out.String())
	}
}
