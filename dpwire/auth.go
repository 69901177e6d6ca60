package dpwire

import (
	"encoding/base64"
	"strings"
)

// BearerProtocolPrefix starts the Sec-WebSocket-Protocol entry that
// carries the token for clients that cannot set an Authorization header
// on a WebSocket (browsers), as Kubernetes does (docs/PROTOCOL.md section
// 2.3). The rest of the entry is the token in unpadded base64url, so any
// token is a valid protocol token on the wire. A server never selects it.
const BearerProtocolPrefix = "kioskd.bearer."

// BearerProtocol returns the Sec-WebSocket-Protocol entry carrying token.
func BearerProtocol(token string) string {
	return BearerProtocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))
}

// TokenFromProtocols returns the token of the first bearer entry among
// the offered subprotocols. ok is false without one; err is set when the
// entry is there but does not decode (the caller refuses it as a wrong
// token, without echoing it).
func TokenFromProtocols(offered []string) (token string, ok bool, err error) {
	for _, p := range offered {
		enc, found := strings.CutPrefix(p, BearerProtocolPrefix)
		if !found {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			return "", true, err
		}
		return string(b), true, nil
	}
	return "", false, nil
}

// BrowserCloseOffset maps the standard close codes of docs/PROTOCOL.md
// section 12.5 into the range a browser may send (its close() accepts
// only 1000 and 3000-4999): a browser closes with 4000 plus the last
// three digits (4001, 4002, 4009).
const BrowserCloseOffset = 3000

// StandardCloseCode reads a close code either way: 4001, 4002 and 4009
// mean 1001, 1002 and 1009; any other code is itself.
func StandardCloseCode(code int) int {
	switch code {
	case 1001 + BrowserCloseOffset, 1002 + BrowserCloseOffset, 1009 + BrowserCloseOffset:
		return code - BrowserCloseOffset
	}
	return code
}
