package dpwire

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// TypeICEServers is the ice_servers message (protocol 1.2): STUN and TURN
// servers the server hands the client for this connection, typically TURN
// with short-lived credentials (docs/PROTOCOL.md section 4.11). It is a new
// message type, not a new member of session: a 1.1 client, which rejects
// unknown members, ignores an unknown type (section 2.2).
const TypeICEServers = "ice_servers"

// Limits of an ice_servers message (docs/PROTOCOL.md section 3.1). A
// deployment has a STUN server and a TURN server with two or three
// transports; the limits leave room for redundancy and bound what a
// hostile server can make the client hold and dial.
const (
	MaxICEServers          = 8   // entries in one message
	MaxICEURLs             = 4   // urls of one entry
	MaxICEURLLength        = 256 // bytes of one URL
	MaxICECredentialLength = 512 // bytes of a username or a credential
)

// ICEServer is one STUN or TURN server, as in WebRTC's RTCIceServer.
// Username and Credential are needed by turn: and turns: URLs; the
// credential is a secret, never logged.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServers hands the client ICE servers (server to client, after
// session and before progress ConnectingToDigitalPerson).
type ICEServers struct {
	Servers []ICEServer `json:"ice_servers"`
}

func (ICEServers) MessageType() string { return TypeICEServers }

// ErrICEURL matches a STUN or TURN URL CheckICEURL refuses.
var ErrICEURL = errors.New("bad ICE server URL")

// CheckICEURL checks one STUN or TURN URL (RFC 7064, RFC 7065):
// stun:HOST[:PORT], stuns:HOST[:PORT], turn:HOST[:PORT][?transport=udp|tcp]
// or turns:HOST[:PORT][?transport=udp|tcp], HOST a DNS name, an IPv4
// address or a bracketed IPv6 address. The error says what is wrong
// without repeating the URL.
func CheckICEURL(u string) error {
	if len(u) > MaxICEURLLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrICEURL, MaxICEURLLength)
	}
	scheme, rest, ok := strings.Cut(u, ":")
	switch {
	case !ok:
		return fmt.Errorf("%w: want stun:, stuns:, turn: or turns:HOST[:PORT]", ErrICEURL)
	case scheme != "stun" && scheme != "stuns" && scheme != "turn" && scheme != "turns":
		return fmt.Errorf("%w: the scheme must be stun, stuns, turn or turns", ErrICEURL)
	case strings.HasPrefix(rest, "//"):
		return fmt.Errorf("%w: no // after the scheme (%s:HOST[:PORT])", ErrICEURL, scheme)
	}
	hostport, query, hasQuery := strings.Cut(rest, "?")
	if hasQuery {
		if scheme == "stun" || scheme == "stuns" {
			return fmt.Errorf("%w: a %s: URL takes no ?query", ErrICEURL, scheme)
		}
		if query != "transport=udp" && query != "transport=tcp" {
			return fmt.Errorf("%w: the only query is ?transport=udp or ?transport=tcp", ErrICEURL)
		}
	}
	host, port := hostport, ""
	if strings.LastIndex(hostport, ":") > strings.LastIndex(hostport, "]") {
		h, p, err := net.SplitHostPort(hostport)
		if err != nil {
			return fmt.Errorf("%w: HOST[:PORT] does not parse (an IPv6 address goes in brackets)", ErrICEURL)
		}
		host, port = h, p
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return fmt.Errorf("%w: no host", ErrICEURL)
	}
	if strings.Contains(host, ":") {
		if net.ParseIP(host) == nil {
			return fmt.Errorf("%w: the host is not an IPv6 address", ErrICEURL)
		}
	} else {
		for _, r := range host {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
				return fmt.Errorf("%w: the host holds characters no host name has (user info, a path or spaces?)", ErrICEURL)
			}
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: the port must be 1 to 65535", ErrICEURL)
		}
	}
	return nil
}

// IsTURN says whether u is a turn: or turns: URL (one that needs a
// username and a credential).
func IsTURN(u string) bool {
	return strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:")
}

// Check checks one server: 1 to MaxICEURLs valid URLs, and a username and
// a credential (each at most MaxICECredentialLength bytes, no control
// characters) if any URL is a TURN one. Errors never include the
// credential.
func (s ICEServer) Check() error {
	if len(s.URLs) == 0 {
		return errors.New("no urls")
	}
	if len(s.URLs) > MaxICEURLs {
		return fmt.Errorf("%d urls, more than %d", len(s.URLs), MaxICEURLs)
	}
	turn := false
	for i, u := range s.URLs {
		if err := CheckICEURL(u); err != nil {
			return fmt.Errorf("urls[%d]: %w", i, err)
		}
		turn = turn || IsTURN(u)
	}
	for _, f := range []struct{ name, v string }{{"username", s.Username}, {"credential", s.Credential}} {
		if len(f.v) > MaxICECredentialLength {
			return fmt.Errorf("%s longer than %d bytes", f.name, MaxICECredentialLength)
		}
		for i := 0; i < len(f.v); i++ {
			if f.v[i] < ' ' || f.v[i] == 0x7f {
				return fmt.Errorf("%s holds control characters", f.name)
			}
		}
		if turn && f.v == "" {
			return fmt.Errorf("a turn: or turns: URL needs a %s", f.name)
		}
	}
	return nil
}

func (m ICEServers) check() error {
	if len(m.Servers) == 0 {
		return errors.New("no ice_servers")
	}
	if len(m.Servers) > MaxICEServers {
		return fmt.Errorf("%d ice_servers, more than %d", len(m.Servers), MaxICEServers)
	}
	for i, s := range m.Servers {
		if err := s.Check(); err != nil {
			return fmt.Errorf("ice_servers[%d]: %w", i, err)
		}
	}
	return nil
}
