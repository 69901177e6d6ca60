package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFromSystemdCredential(t *testing.T) {
	t.Setenv(EnvToken, "")
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "kioskd-token"), []byte(secret+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "token", "from-file-0123456789", 0o600)
	c := withTokenFile(file)

	t.Run("the credential wins over token_file", func(t *testing.T) {
		t.Setenv(EnvCredentials, creds)
		got, err := c.LoadToken()
		if err != nil || got.Token != secret || got.Source != "systemd credential kioskd-token" || got.Warning != "" {
			t.Fatalf("LoadToken = %+v, %v", got, err)
		}
	})
	t.Run("without the credential, token_file", func(t *testing.T) {
		t.Setenv(EnvCredentials, t.TempDir()) // a service with other credentials
		got, err := c.LoadToken()
		if err != nil || got.Token != "from-file-0123456789" || got.Source != "server.token_file "+file {
			t.Fatalf("LoadToken = %+v, %v", got, err)
		}
	})
	t.Run("no CREDENTIALS_DIRECTORY: token_file", func(t *testing.T) {
		t.Setenv(EnvCredentials, "")
		got, err := c.LoadToken()
		if err != nil || got.Token != "from-file-0123456789" {
			t.Fatalf("LoadToken = %+v, %v", got, err)
		}
	})
	t.Run("token_credential names another credential", func(t *testing.T) {
		t.Setenv(EnvCredentials, creds)
		if err := os.WriteFile(filepath.Join(creds, "site-token"), []byte("site-token-0123456789"), 0o400); err != nil {
			t.Fatal(err)
		}
		c := withTokenFile(file)
		c.Server.TokenCredential = "site-token"
		got, err := c.LoadToken()
		if err != nil || got.Token != "site-token-0123456789" || got.Source != "systemd credential site-token" {
			t.Fatalf("LoadToken = %+v, %v", got, err)
		}
		c.Server.TokenCredential = "" // never a credential
		if got, err := c.LoadToken(); err != nil || got.Token != "from-file-0123456789" {
			t.Fatalf("LoadToken = %+v, %v", got, err)
		}
	})
	t.Run("KIOSKD_TOKEN still wins", func(t *testing.T) {
		t.Setenv(EnvCredentials, creds)
		t.Setenv(EnvToken, "from-env-0123456789")
		if got, err := c.LoadToken(); err != nil || got.Token != "from-env-0123456789" {
			t.Fatalf("LoadToken = %+v, %v", got, err)
		}
	})
	t.Run("a bad credential is an error naming it, not the token", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "kioskd-token"), []byte(secret+" "+secret), 0o400); err != nil {
			t.Fatal(err)
		}
		t.Setenv(EnvCredentials, bad)
		_, err := c.LoadToken()
		if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), "systemd credential kioskd-token") || strings.Contains(err.Error(), secret) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestTokenCredentialNameIsChecked(t *testing.T) {
	for _, bad := range []string{"/etc/kioskd/token", "..", "a b", "x\x01"} {
		c := Default()
		c.Server.TokenCredential = bad
		err := c.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "server.token_credential: must be a credential name") {
			t.Errorf("%q: got %v", bad, err)
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("%q: the value was echoed: %v", bad, err)
		}
	}
}

func TestTokenFileReadableByOthersIsWarned(t *testing.T) {
	t.Setenv(EnvToken, "")
	t.Setenv(EnvCredentials, "")
	self := ids{uids: []uint32{0, uint32(os.Geteuid())}, gids: []uint32{0, uint32(os.Getegid())}}
	for _, tc := range []struct {
		name string
		mode os.FileMode
		gid  int // -1: the process's
		uid  int // -1: the process's
		who  string
	}{
		{"0600 own", 0o600, -1, -1, ""},
		{"0640 own group", 0o640, -1, -1, ""},
		{"0644 world", 0o644, -1, -1, "every user"},
		{"0604 world", 0o604, -1, -1, "every user"},
		{"0640 another group", 0o640, 54321, -1, "group 54321"},
		{"0600 another group", 0o600, 54321, -1, ""},
		{"0400 another owner", 0o400, -1, 54322, "its owner 54322"},
		{"0040 another owner", 0o040, -1, 54322, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "token", secret, 0o600)
			if tc.gid >= 0 || tc.uid >= 0 {
				if os.Geteuid() != 0 {
					t.Skip("chown needs root")
				}
				if err := os.Chown(path, tc.uid, tc.gid); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			w := tokenFileWarning(path, fi, self)
			if tc.who == "" {
				if w != "" {
					t.Fatalf("unexpected warning %q", w)
				}
				return
			}
			if !strings.Contains(w, path+" is readable by "+tc.who) || !strings.Contains(w, "chmod 0640") {
				t.Fatalf("warning %q does not say who and the fix", w)
			}
			if strings.Contains(w, secret) {
				t.Fatal("the token leaked into the warning")
			}
		})
	}
	// Through LoadToken, as run and check-config see it.
	path := writeFile(t, "token", secret, 0o644)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := withTokenFile(path).LoadToken()
	if err != nil || got.Token != secret || !strings.Contains(got.Warning, "readable by every user") {
		t.Fatalf("LoadToken = %+v, %v", got.Warning, err)
	}
}
