package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "s3cr3t-T0KEN-must-not-leak"

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func withTokenFile(path string) *Config {
	c := Default()
	c.Server.TokenFile = path
	return c
}

func TestTokenFromFile(t *testing.T) {
	t.Setenv(EnvToken, "")
	path := writeFile(t, "token", "  "+secret+"\n\n", 0o600)
	got, err := withTokenFile(path).Token()
	if err != nil {
		t.Fatal(err)
	}
	if got != secret {
		t.Fatalf("Token() = %q, want the trimmed file contents", got)
	}
}

func TestTokenEnvWins(t *testing.T) {
	path := writeFile(t, "token", "from-file-0123456789", 0o600)
	t.Setenv(EnvToken, " from-env-0123456789\n")
	got, err := withTokenFile(path).Token()
	if err != nil || got != "from-env-0123456789" {
		t.Fatalf("Token() = %q, %v; want the environment's", got, err)
	}
	// Even when the file is missing: the environment is enough.
	got, err = withTokenFile(filepath.Join(t.TempDir(), "missing")).Token()
	if err != nil || got != "from-env-0123456789" {
		t.Fatalf("Token() = %q, %v; want the environment's", got, err)
	}
	// A blank variable counts as unset (systemd's Environment=KIOSKD_TOKEN=).
	t.Setenv(EnvToken, "  ")
	got, err = withTokenFile(path).Token()
	if err != nil || got != "from-file-0123456789" {
		t.Fatalf("Token() = %q, %v; want the file's", got, err)
	}
}

// A token too short to be a secret is refused, without echoing it: a
// one-character token would also make the log redactor blank every
// occurrence of that character.
func TestTokenTooShort(t *testing.T) {
	for _, short := range []string{"Q9", "fifteen-chars15"} {
		t.Setenv(EnvToken, short)
		_, err := withTokenFile("").Token()
		if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), "shorter than the 16") || strings.Contains(err.Error(), short) {
			t.Errorf("%d characters: Token() error %v, want ErrBadToken saying it is too short, without the token", len(short), err)
		}
		t.Setenv(EnvToken, "")
		_, err = withTokenFile(writeFile(t, "token", short+"\n", 0o600)).Token()
		if !errors.Is(err, ErrBadToken) {
			t.Errorf("%d characters in the file: Token() error %v, want ErrBadToken", len(short), err)
		}
	}
	t.Setenv(EnvToken, "sixteen-chars-16")
	if got, err := withTokenFile("").Token(); err != nil || got != "sixteen-chars-16" {
		t.Errorf("16 characters: Token() = %q, %v", got, err)
	}
}

func TestTokenNone(t *testing.T) {
	t.Setenv(EnvToken, "")
	got, err := withTokenFile("").Token()
	if err != nil || got != "" {
		t.Fatalf("empty token_file: Token() = %q, %v; want no token", got, err)
	}
}

// Every way of failing names the file or the variable, matches a
// sentinel, and never contains the token.
func TestTokenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	empty := writeFile(t, "empty", " \n\t\n", 0o600)
	spaced := writeFile(t, "spaced", secret+" "+secret+"\n", 0o600)
	ctrl := writeFile(t, "ctrl", secret+"\r\nX-Injected: 1\n", 0o600)
	nonASCII := writeFile(t, "utf8", secret+"é\n", 0o600)
	huge := writeFile(t, "huge", strings.Repeat(secret, 64<<10/len(secret)+1), 0o600)
	unreadable := writeFile(t, "unreadable", secret, 0o000)

	cases := []struct {
		name, env, file string
		sentinel        error
		wantIn          []string
	}{
		{"missing file", "", missing, ErrNoToken, []string{missing, "no such file", "systemd credential kioskd-token"}},
		{"directory", "", dir, ErrNoToken, []string{dir}},
		{"empty file", "", empty, ErrNoToken, []string{empty, "is empty"}},
		{"two words", "", spaced, ErrBadToken, []string{spaced}},
		{"header injection", "", ctrl, ErrBadToken, []string{ctrl}},
		{"non-ASCII", "", nonASCII, ErrBadToken, []string{nonASCII}},
		{"huge file", "", huge, ErrNoToken, []string{huge, "larger than"}},
		{"env with control characters", secret + "\x01", missing, ErrBadToken, []string{EnvToken}},
		{"env with a space", secret + " " + secret, missing, ErrBadToken, []string{EnvToken}},
	}
	if os.Geteuid() != 0 { // root reads anything
		cases = append(cases, struct {
			name, env, file string
			sentinel        error
			wantIn          []string
		}{"unreadable file", "", unreadable, ErrNoToken, []string{unreadable, "permission denied"}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvToken, tc.env)
			got, err := withTokenFile(tc.file).Token()
			if err == nil {
				t.Fatal("no error")
			}
			if got != "" {
				t.Fatal("a token came back with an error")
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %v does not match %v", err, tc.sentinel)
			}
			msg := err.Error() + fmt.Sprintf(" %+v %#v", err, err)
			if strings.Contains(msg, secret) {
				t.Fatalf("the token leaked into the error: %s", msg)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("missing file is fs.ErrNotExist", func(t *testing.T) {
		t.Setenv(EnvToken, "")
		if _, err := withTokenFile(missing).Token(); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
}

// A token pasted into the config file in any place must not come back in
// a config error either.
func TestTokenNeverInConfigErrors(t *testing.T) {
	for name, data := range map[string]string{
		"as token key":         "server:\n  token: " + secret + "\n",
		"as token_file":        "server:\n  token_file: " + secret + "\n",
		"in url userinfo":      "server:\n  url: wss://kiosk:" + secret + "@dp.example.com/v1\n",
		"in url, bad scheme":   "server:\n  url: https://dp.example.com/v1?token=" + secret + "\n",
		"in url, bad escape":   "server:\n  url: \"wss://dp.example.com/%zz" + secret + "\"\n",
		"in url, bad host":     "server:\n  url: \"wss://" + secret + " x/\"\n",
		"as unknown top key":   secret + ": 1\n",
		"token file as config": secret + "\n",
		"as server section":    "server: " + secret + "\n",
		"as unknown key val":   "media:\n  secret_stuff: " + secret + "\n",
		"as ca_file":           "server:\n  ca_file: " + secret + "\n",
		"as heartbeat":         "server:\n  heartbeat: " + secret + "\n",
		"as nested key":        "leds:\n  lines:\n    " + secret + ": x\n  backend: gpio\n",
		"in url, no scheme":    "server:\n  url: " + secret + "\n",
		"in url, with fragm.":  "server:\n  url: wss://dp.example.com/#" + secret + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(data), "k.yaml")
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the token leaked: %v", err)
			}
		})
	}
	// And a query-string token is fine but never echoed in a warning.
	c, err := Parse([]byte("server:\n  url: ws://dp.example.com/v1?token="+secret+"\n  allow_insecure: true\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); w == "" || strings.Contains(w, secret) {
		t.Fatalf("warnings %q", w)
	}
}
