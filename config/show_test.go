package config

import (
	"strings"
	"testing"
)

// TestShowListsICEServersWithoutTheirCredential: server.ice_servers is
// shown as a block list, each key with its line, and a TURN credential
// written in the file is REDACTED, never shown.
func TestShowListsICEServersWithoutTheirCredential(t *testing.T) {
	src := "server:\n  url: wss://dp.example.com/v1/session\n  ice_servers:\n    - urls: [\"turn:turn.example.com:3478?transport=udp\", \"stun:stun.example.com\"]\n      username: kiosk\n      credential: turn-secret-0123456789\n"
	c, err := Parse([]byte(src), "kioskd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.Show(&b, ""); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "turn-secret") {
		t.Fatalf("the credential is shown:\n%s", out)
	}
	for _, want := range []string{
		`  ice_servers:`,
		`    - urls: ["turn:turn.example.com:3478?transport=udp", "stun:stun.example.com"]`,
		`      username: kiosk`,
		`      credential: REDACTED`,
		`# kioskd.yaml:6`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Apart from the credential, what Show prints reads back the same.
	var plain strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if before, _, ok := strings.Cut(l, "  # "); ok {
			l = before
		}
		plain.WriteString(strings.Replace(l, "REDACTED", "turn-secret-0123456789", 1) + "\n")
	}
	back, err := Parse([]byte(plain.String()), "shown.yaml")
	if err != nil || !back.Same(c) {
		t.Fatalf("reads back as %+v, %v", back, err)
	}
}
