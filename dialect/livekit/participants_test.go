package livekit

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A server announcing more participants than a kiosk's room can hold (a
// hostile or broken one) grows the call's memory only to maxParticipants;
// the first ones (the DP among them) stay and keep being updated, the
// rest are ignored with one warning.
func TestParticipantsBounded(t *testing.T) {
	var logs bytes.Buffer
	c := &call{peers: map[string]participantInfo{}, log: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := range 10 * maxParticipants {
		c.upsert(participantInfo{SID: fmt.Sprintf("PA_%d", i), Identity: fmt.Sprintf("p%d", i)})
	}
	if len(c.peers) != maxParticipants || len(c.order) != maxParticipants {
		t.Fatalf("%d participants kept (%d in order), want %d", len(c.peers), len(c.order), maxParticipants)
	}
	c.upsert(participantInfo{SID: "PA_0", Identity: "p0", Kind: kindAgent})
	if c.peers["PA_0"].Kind != kindAgent {
		t.Fatal("a kept participant's update was ignored")
	}
	if n := strings.Count(logs.String(), "more participants than kioskd keeps"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
}
