package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// server.ice_servers and server.ice_transport_policy: strict like every
// key, the protocol's rules and limits for each URL, and never a
// credential in an error.
func TestICEServers(t *testing.T) {
	credFile := filepath.Join(t.TempDir(), "turn-credential")
	if err := os.WriteFile(credFile, []byte("  file-secret-credential\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := "server:\n  ice_transport_policy: relay\n  ice_servers:\n" +
		"    - urls: [\"stun:192.0.2.1:3478\"]\n" +
		"    - urls:\n        - turn:192.0.2.1:3478?transport=tcp\n        - turns:turn.example.com:443?transport=tcp\n" +
		"      username: kiosk-17\n      credential_file: " + credFile + "\n" +
		"    - urls: [\"turn:[2001:db8::1]\"]\n      username: u\n      credential: inline-secret-credential\n"
	c, err := Parse([]byte(good), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.ICETransportPolicy != ICEPolicyRelay || len(c.Server.ICEServers) != 3 || len(c.Server.ICEServers[1].URLs) != 2 {
		t.Fatalf("server = %+v", c.Server)
	}
	if c.Server.ICEServers[1].Credential != "" {
		t.Fatal("the credential file was read by Parse (no I/O before ResolvedICEServers)")
	}
	rs, err := c.ResolvedICEServers()
	if err != nil {
		t.Fatal(err)
	}
	if rs[1].Credential != "file-secret-credential" || rs[2].Credential != "inline-secret-credential" || rs[0].Credential != "" {
		t.Fatalf("resolved = %+v", rs)
	}
	secret := "pasted-secret-credential"
	bad := []struct{ yaml, want string }{
		{"server:\n  ice_transport_policy: none\n", `k.yaml:2: server.ice_transport_policy: must be all or relay (got "none")`},
		{"server:\n  ice_servers: turn:a\n", "k.yaml:2: server.ice_servers: want a list, got a string"},
		{"server:\n  ice_servers:\n    - turn:a\n", "k.yaml:3: server.ice_servers[0]: want a mapping, got a string"},
		{"server:\n  ice_servers:\n    - url: [\"stun:a\"]\n", "k.yaml:3: server.ice_servers[0].url: unknown key (did you mean \"urls\"?)\nk.yaml:3: server.ice_servers[0].urls: required: one or more stun:, stuns:, turn: or turns: URLs"},
		{"server:\n  ice_servers:\n    - username: u\n", "k.yaml:3: server.ice_servers[0].urls: required: one or more stun:, stuns:, turn: or turns: URLs"},
		{"server:\n  ice_servers:\n    - urls: [\"turn://a\"]\n", "k.yaml:3: server.ice_servers[0]: urls[0]: bad ICE server URL: no // after the scheme (turn:HOST[:PORT])"},
		{"server:\n  ice_servers:\n    - urls: [\"turn:a\"]\n      credential: " + secret + "\n", "k.yaml:3: server.ice_servers[0]: a turn: or turns: URL needs a username"},
		{"server:\n  ice_servers:\n    - urls: [\"turn:a\"]\n      username: u\n", "k.yaml:3: server.ice_servers[0]: a turn: or turns: URL needs a credential"},
		{"server:\n  ice_servers:\n    - urls: [\"stun:a\"]\n      username: u\n      credential: " + secret + "\n", "k.yaml:3: server.ice_servers[0]: username and credential are for turn: and turns: URLs; a STUN server takes none"},
		{"server:\n  ice_servers:\n    - urls: [\"turn:a\"]\n      username: u\n      credential: " + secret + "\n      credential_file: /x\n", "k.yaml:6: server.ice_servers[0].credential_file: credential and credential_file are exclusive: keep one"},
		{"server:\n  ice_servers:\n    - urls: [\"turn:a\"]\n      username: u\n      credential_file: cred\n", "k.yaml:5: server.ice_servers[0].credential_file: must be an absolute path to a file holding the credential"},
		{"server:\n  ice_servers:\n    - urls: [\"stun:a\", \"stun:b\", \"stun:c\", \"stun:d\", \"stun:e\"]\n", "k.yaml:3: server.ice_servers[0]: 5 urls, more than 4"},
		{"server:\n  ice_servers:\n" + strings.Repeat("    - urls: [\"stun:a\"]\n", 9), "k.yaml:2: server.ice_servers: at most 8 servers (got 9)"},
		{"server:\n  ice_servers:\n" + strings.Repeat("    - urls: [\"stun:a\"]\n", 65), "k.yaml:2: server.ice_servers: at most 64 entries (got 65)"},
		{"server:\n  dialect: livekit\n  ice_servers:\n    - urls: [\"stun:a\"]\n", "k.yaml:3: server.ice_servers: is only used with server.dialect: kioskd (a LiveKit server hands its own)"},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.yaml), "k.yaml")
		if err == nil {
			t.Errorf("%q: no error", b.yaml)
			continue
		}
		if err.Error() != b.want {
			t.Errorf("%q:\n got %q\nwant %q", b.yaml, err, b.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the credential: %v", err)
		}
	}

	// A credential file that cannot be read, or holds a credential no TURN
	// server takes, is refused at start with the file named, not its content.
	for _, f := range []struct{ content, want string }{
		{"", "a turn: or turns: URL needs a credential"},
		{"two\nlines-" + secret, "credential holds control characters"},
	} {
		if err := os.WriteFile(credFile, []byte(f.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := c.ResolvedICEServers()
		if !errors.Is(err, ErrICECredential) || !strings.Contains(err.Error(), f.want) || !strings.Contains(err.Error(), credFile) || strings.Contains(err.Error(), secret) {
			t.Errorf("%q: got %v", f.content, err)
		}
	}
	c.Server.ICEServers[1].CredentialFile = filepath.Join(t.TempDir(), "missing")
	if _, err := c.ResolvedICEServers(); !errors.Is(err, ErrICECredential) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}
}
