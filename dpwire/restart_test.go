package dpwire

import (
	"errors"
	"testing"
)

func TestICERestartRoundTrip(t *testing.T) {
	in := ICERestart{SDP: "v=0\r\n"}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"type":"ice_restart","sdp":"v=0\r\n"}` {
		t.Fatalf("encoded %s", b)
	}
	out, err := Decode(b)
	if err != nil || out != in {
		t.Fatalf("decoded %#v, %v", out, err)
	}
}

func TestICERestartMalformed(t *testing.T) {
	for _, f := range []string{
		`{"type":"ice_restart"}`,
		`{"type":"ice_restart","sdp":""}`,
		`{"type":"ice_restart","sdp":"v=0","ice_restart":true}`,
	} {
		if _, err := Decode([]byte(f)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", f, err)
		}
	}
}
