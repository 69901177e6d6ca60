package dpwire

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	mid := "0"
	idx := uint16(0)
	msgs := []Message{
		Hello{Resume: "s1", Client: ClientInfo{Name: "kioskd", Version: "1", Video: true, Audio: true}},
		Session{SessionID: "s1", Resumed: true, HeartbeatMS: 5000},
		Progress{State: "SearchingForDigitalPerson", QueuePosition: 3},
		Offer{SDP: "v=0"}, Answer{SDP: "v=0"},
		Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx},
		Candidate{End: true}, Ready{}, Ping{Seq: 7}, Pong{Seq: 7},
		Close{Reason: "normal", Message: "bye"},
	}
	for _, m := range msgs {
		frame, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(frame), `{"type":"`+m.MessageType()+`"`) {
			t.Fatalf("frame %s does not start with its type", frame)
		}
		got, err := Decode(frame)
		if err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
		if got.MessageType() != m.MessageType() {
			t.Fatalf("%s decoded as %s", frame, got.MessageType())
		}
		again, _ := Encode(got)
		if string(again) != string(frame) {
			t.Fatalf("round trip changed the frame:\n%s\n%s", frame, again)
		}
	}
}

func TestDecodeRejectsBadFrames(t *testing.T) {
	cases := map[string]struct {
		frame string
		want  error
	}{
		"not json":        {`{"type":`, ErrMalformed},
		"not an object":   {`[1]`, ErrMalformed},
		"no type":         {`{"sdp":"x"}`, ErrMalformed},
		"unknown type":    {`{"type":"teleport"}`, ErrUnknownType},
		"unknown field":   {`{"type":"ready","extra":1}`, ErrMalformed},
		"wrong type":      {`{"type":"ping","seq":"x"}`, ErrMalformed},
		"empty sdp":       {`{"type":"answer","sdp":""}`, ErrMalformed},
		"kiosk_id member": {`{"type":"hello","client":{"name":"k","version":"1","video":true,"audio":true,"kiosk_id":"k-1"}}`, ErrMalformed},
		"bad state":       {`{"type":"progress","state":"Flying"}`, ErrMalformed},
		"negative queue":  {`{"type":"progress","state":"SearchingForDigitalPerson","queue_position":-1}`, ErrMalformed},
		"empty session":   {`{"type":"session","session_id":""}`, ErrMalformed},
		"empty candidate": {`{"type":"candidate"}`, ErrMalformed},
		"close no reason": {`{"type":"close"}`, ErrMalformed},
		"heartbeat hour":  {`{"type":"session","session_id":"a","heartbeat_ms":3600000}`, ErrMalformed},
		"heartbeat long":  {`{"type":"session","session_id":"a","heartbeat_ms":30001}`, ErrMalformed},
		"heartbeat short": {`{"type":"session","session_id":"a","heartbeat_ms":999}`, ErrMalformed},
		"heartbeat neg":   {`{"type":"session","session_id":"a","heartbeat_ms":-1}`, ErrMalformed},
		"queue too far":   {`{"type":"progress","state":"SearchingForDigitalPerson","queue_position":65536}`, ErrMalformed},
		"seq past 2^53":   {`{"type":"ping","seq":9007199254740992}`, ErrMalformed},
		"pong past 2^53":  {`{"type":"pong","seq":18446744073709551615}`, ErrMalformed},
		"no mid, no idx":  {`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host"}`, ErrMalformed},
		"end with cand":   {`{"type":"candidate","end":true,"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0"}`, ErrMalformed},
		"end with mid":    {`{"type":"candidate","end":true,"sdpMid":"0"}`, ErrMalformed},
		"null heartbeat":  {`{"type":"session","session_id":"a","resumed":false,"heartbeat_ms":null}`, ErrMalformed},
		"null queue":      {`{"type":"progress","state":"DownloadingAssets","queue_position":null}`, ErrMalformed},
		"null resume":     {`{"type":"hello","resume":null,"client":{"name":"k","version":"1","video":true,"audio":true}}`, ErrMalformed},
		"null nested":     {`{"type":"hello","client":{"name":null,"version":"1","video":true,"audio":true}}`, ErrMalformed},
		"null client":     {`{"type":"hello","client":null}`, ErrMalformed},
		"null mid":        {`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":null,"sdpMLineIndex":0}`, ErrMalformed},
		"null message":    {`{"type":"close","reason":"normal","message":null}`, ErrMalformed},
		"too large":       {`{"type":"offer","sdp":"` + strings.Repeat("a", MaxFrameSize) + `"}`, ErrTooLarge},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(c.frame))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestDecodeAcceptsTheRanges: the bounds of docs/PROTOCOL.md section 4
// are values, not errors.
func TestDecodeAcceptsTheRanges(t *testing.T) {
	for _, frame := range []string{
		`{"type":"session","session_id":"a","resumed":false}`,
		`{"type":"session","session_id":"a","resumed":false,"heartbeat_ms":0}`,
		`{"type":"session","session_id":"a","resumed":false,"heartbeat_ms":1000}`,
		`{"type":"session","session_id":"a","resumed":false,"heartbeat_ms":30000}`,
		`{"type":"progress","state":"SearchingForDigitalPerson","queue_position":65535}`,
		`{"type":"ping","seq":9007199254740991}`,
		`{"type":"pong","seq":0}`,
		`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0"}`,
		`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMLineIndex":1}`,
		`{"type":"candidate","end":true}`,
		`{"type":"close","reason":"normal","message":"a null in a string is text: null"}`,
	} {
		if _, err := Decode([]byte(frame)); err != nil {
			t.Errorf("%s: %v", frame, err)
		}
	}
}

// TestUnknownTypeErrorNamesTheType: a receiver logs each unknown type
// once, by the name the error gives: a plain name whole, anything else by
// its length only (never cut: see TestErrorsNeverTruncateOrEscapePeerStrings).
func TestUnknownTypeErrorNamesTheType(t *testing.T) {
	_, err := Decode([]byte(`{"type":"x-teleport","to":"mars"}`))
	var ut *UnknownTypeError
	if !errors.As(err, &ut) || ut.Type != "x-teleport" || !errors.Is(err, ErrUnknownType) {
		t.Fatalf("%v, want an UnknownTypeError for x-teleport", err)
	}
	long := strings.Repeat("é", 100)
	_, err = Decode([]byte(`{"type":"` + long + `"}`))
	if !errors.As(err, &ut) || ut.Type != "(200 bytes)" {
		t.Fatalf("%v: want the type by its length only", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","resume":"abc","client":{"name":"kioskd","version":"1","video":true,"audio":true}}`,
		`{"type":"session","session_id":"abc","resumed":false,"heartbeat_ms":5000}`,
		`{"type":"progress","state":"SearchingForDigitalPerson","queue_position":2}`,
		`{"type":"candidate","candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`,
		`{"type":"candidate","end":true}`,
		`{"type":"close","reason":"noScene","message":"all busy"}`,
		`{"type":"ready"}`, `{"type":"ping","seq":1}`, `{}`, `[]`, `{"type":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := Decode(frame)
		if err != nil {
			if m != nil {
				t.Fatal("a message and an error")
			}
			return
		}
		// Whatever decodes must encode and decode to the same type again.
		out, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %T does not encode: %v", m, err)
		}
		m2, err := Decode(out)
		if errors.Is(err, ErrTooLarge) && len(out) > MaxFrameSize {
			// encoding/json always escapes U+2028/U+2029 (6 bytes for 3):
			// a frame of those can grow past the limit when re-encoded.
			return
		}
		if err != nil || m2.MessageType() != m.MessageType() {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
	})
}

// A peer that echoes a secret in a name the decoder complains about sees
// it in the error whole (so the log's redactor recognises it) or not at
// all: never truncated, never escaped.
func TestErrorsNeverTruncateOrEscapePeerStrings(t *testing.T) {
	long := strings.Repeat("tok3n-", 20) // 120 bytes
	for _, frame := range []string{
		`{"type":"` + long + `"}`,
		`{"type":"progress","state":"` + long + `"}`,
		`{"type":"ready","` + long + `":1}`,
		`{"type":"tok\"en\\with-quotes-0123456789"}`,
		`{"type":"progress","state":"tok\"en\\with-quotes-0123456789"}`,
		`{"type":"ready","tok\"en\\with-quotes-0123456789":1}`,
	} {
		_, err := Decode([]byte(frame))
		if err == nil {
			t.Fatalf("%s: no error", frame)
		}
		msg := err.Error()
		for _, part := range []string{long[:40], "tok3n-tok3n", `tok\"en`, `tok"en`, "with-quotes"} {
			if strings.Contains(msg, part) {
				t.Errorf("%s: error %q shows part of the peer's string (%q)", frame, msg, part)
			}
		}
		if !strings.Contains(msg, "bytes)") {
			t.Errorf("%s: error %q does not say the length instead", frame, msg)
		}
	}
	// A plain short name is shown whole, to help debugging.
	if _, err := Decode([]byte(`{"type":"teleport"}`)); err == nil || !strings.Contains(err.Error(), "teleport") {
		t.Errorf("unknown type teleport: %v", err)
	}
}

// TestKioskIDIsNoMemberOfHello: the kiosk id travels in the upgrade
// (KioskIDHeader, since 1.4), never in hello, which a peer before 1.4
// decodes strictly; CheckKioskID bounds it.
func TestKioskIDIsNoMemberOfHello(t *testing.T) {
	frame, err := Encode(Hello{Client: ClientInfo{Name: "kioskd", Version: "1", Video: true, KioskID: "k-0123456789abcdef0123"}})
	if err != nil || strings.Contains(string(frame), "kiosk_id") || strings.Contains(string(frame), "k-0123") {
		t.Fatalf("hello %s, %v: carries the kiosk id", frame, err)
	}
	if err := CheckKioskID("k-0123456789abcdef0123"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"a b", "k/1", strings.Repeat("a", MaxKioskID+1)} {
		if CheckKioskID(bad) == nil {
			t.Errorf("CheckKioskID(%q) accepted", bad)
		}
	}
}
