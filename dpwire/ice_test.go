package dpwire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheckICEURL(t *testing.T) {
	for _, u := range []string{
		"stun:stun.example.com", "stun:192.0.2.1:3478", "stuns:stun.example.com:5349",
		"turn:turn.example.com", "turn:10.0.0.1:3478?transport=tcp", "turn:[2001:db8::1]:3478?transport=udp",
		"turns:turn.example.com:443?transport=tcp", "turn:[::1]",
	} {
		if err := CheckICEURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, c := range []struct{ u, want string }{
		{"turn.example.com:3478", "scheme"},
		{"http://turn.example.com", "scheme"},
		{"turn://turn.example.com", "no //"},
		{"stun:stun.example.com?transport=tcp", "takes no ?query"},
		{"turn:turn.example.com?transport=sctp", "transport=udp or"},
		{"turn:user:pass@turn.example.com", "port"},
		{"turn:[::1", "does not parse"},
		{"turn:user@turn.example.com", "characters no host name has"},
		{"turn:turn.example.com:0", "port"},
		{"turn:turn.example.com:99999", "port"},
		{"turn::3478", "no host"},
		{"turn:", "no host"},
		{"turn:" + strings.Repeat("a", MaxICEURLLength), "longer than"},
	} {
		err := CheckICEURL(c.u)
		if !errors.Is(err, ErrICEURL) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want ErrICEURL with %q", c.u, err, c.want)
		}
		if err != nil && len(c.u) > 8 && strings.Contains(err.Error(), c.u) {
			t.Errorf("%q: the error repeats the URL: %v", c.u, err)
		}
	}
}

func TestICEServersRoundTrip(t *testing.T) {
	m := ICEServers{Servers: []ICEServer{
		{URLs: []string{"stun:192.0.2.1:3478"}},
		{URLs: []string{"turn:192.0.2.1:3478?transport=tcp", "turns:turn.example.com:443?transport=tcp"}, Username: "1700000000:kiosk", Credential: "c2VjcmV0LWNyZWRlbnRpYWw="},
	}}
	frame, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(m) {
		t.Fatalf("got %v, want %v", got, m)
	}
}

// A hostile or broken server's ice_servers is malformed (close 1002,
// docs/PROTOCOL.md sections 3.1 and 4.11): never truncated, never held.
func TestICEServersLimits(t *testing.T) {
	entry := `{"urls":["stun:a"]}`
	many := func(n int) string {
		return `{"type":"ice_servers","ice_servers":[` + strings.TrimSuffix(strings.Repeat(entry+",", n), ",") + `]}`
	}
	// 10,000 entries do not fit in a frame: refused before decoding.
	if _, err := Decode([]byte(many(10000))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("10000 servers: got %v, want ErrTooLarge", err)
	}
	// As many as fit in 64 KiB: refused by count.
	n := (MaxFrameSize - 64) / (len(entry) + 1)
	if _, err := Decode([]byte(many(n))); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), fmt.Sprintf("%d ice_servers, more than %d", n, MaxICEServers)) {
		t.Errorf("%d servers: got %v", n, err)
	}
	if _, err := Decode([]byte(many(MaxICEServers))); err != nil {
		t.Errorf("%d servers: %v", MaxICEServers, err)
	}
	secret := "s3cr3t-credential-value"
	for _, c := range []struct{ frame, want string }{
		{`{"type":"ice_servers","ice_servers":[]}`, "no ice_servers"},
		{`{"type":"ice_servers"}`, "no ice_servers"},
		{`{"type":"ice_servers","ice_servers":[{"urls":[]}]}`, "no urls"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["stun:a","stun:b","stun:c","stun:d","stun:e"]}]}`, "5 urls, more than 4"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["turn:a"],"credential":"` + secret + `"}]}`, "needs a username"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["turn:a"],"username":"u"}]}`, "needs a credential"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["turn:a"],"username":"u","credential":"` + strings.Repeat("x", MaxICECredentialLength+1) + `"}]}`, "credential longer than 512"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["turn:a"],"username":"u\n","credential":"` + secret + `"}]}`, "username holds control"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["http://a"]}]}`, "urls[0]: bad ICE server URL"},
		{`{"type":"ice_servers","ice_servers":[{"urls":["turn:a"],"username":"u","credential":"` + secret + `","x":1}]}`, "unknown field"},
	} {
		_, err := Decode([]byte(c.frame))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.80s: got %v, want malformed with %q", c.frame, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the credential: %v", err)
		}
	}
}
