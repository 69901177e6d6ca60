package dpwire

import (
	"strings"
	"testing"
)

func TestBearerProtocolRoundTrip(t *testing.T) {
	for _, tok := range []string{"dptest-0123456789abcdef", `tok"en\with/+=chars-0123`, strings.Repeat("x", 600)} {
		p := BearerProtocol(tok)
		// An RFC 7230 token: what Sec-WebSocket-Protocol entries must be.
		if strings.ContainsAny(p, " \t\"(),/:;<=>?@[\\]{}+") {
			t.Errorf("%q is not an HTTP token", p)
		}
		got, ok, err := TokenFromProtocols([]string{Subprotocol, p})
		if !ok || err != nil || got != tok {
			t.Errorf("TokenFromProtocols(%q) = %q, %v, %v", p, got, ok, err)
		}
	}
	if _, ok, _ := TokenFromProtocols([]string{Subprotocol}); ok {
		t.Error("found a token where none was offered")
	}
	if _, ok, err := TokenFromProtocols([]string{BearerProtocolPrefix + "!!"}); !ok || err == nil {
		t.Errorf("a bad entry: ok %v, err %v; want found and an error", ok, err)
	}
}
