package dpsim

import (
	"testing"
	"time"
)

// The credential coturn's documentation derives for its REST API:
// echo -n "1700000000:dp-1" | openssl dgst -binary -sha1 -hmac secret | base64
func TestTURNCredential(t *testing.T) {
	u, c := TURNCredential("secret", "dp-1", time.Unix(1700000000, 0))
	if u != "1700000000:dp-1" || c != "qIprmmiLti3sTl7eBIP3TLb4u/A=" {
		t.Fatalf("got %q %q", u, c)
	}
}
