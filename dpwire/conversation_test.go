package dpwire

import (
	"errors"
	"testing"
)

func TestConversationStateRoundTrip(t *testing.T) {
	for _, s := range []string{ConversationIdle, ConversationInitializing, ConversationListening, ConversationThinking, ConversationSpeaking, ConversationNone, "a_later_state"} {
		in := ConversationState{State: s}
		b, err := Encode(in)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `{"type":"conversation_state","state":"`+s+`"}` {
			t.Fatalf("encoded %s", b)
		}
		out, err := Decode(b)
		if err != nil || out != in {
			t.Fatalf("decoded %#v, %v", out, err)
		}
	}
}

func TestConversationStateMalformed(t *testing.T) {
	for _, f := range []string{
		`{"type":"conversation_state"}`,
		`{"type":"conversation_state","state":""}`,
		`{"type":"conversation_state","state":null}`,
		`{"type":"conversation_state","state":3}`,
		`{"type":"conversation_state","state":"Listening"}`,
		`{"type":"conversation_state","state":"listening\n"}`,
		`{"type":"conversation_state","state":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`,
		`{"type":"conversation_state","state":"listening","since":1}`,
	} {
		if _, err := Decode([]byte(f)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want malformed", f, err)
		}
	}
}
