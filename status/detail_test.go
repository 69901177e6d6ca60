package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
)

func TestErrorDetailIsShown(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st := FromSnapshot(contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed,
		ErrorDetail: contract.DetailClock, Attempt: 3, NextRetry: now.Add(time.Second)})
	out := FormatText(st, now)
	if !strings.Contains(out, "serverConnectionFailed (the system clock is wrong; waiting for time sync)") {
		t.Fatalf("text does not show the detail:\n%s", out)
	}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"last_error":"serverConnectionFailed","error_detail":"clock"`) {
		t.Fatalf("JSON %s", data)
	}
	// No detail: no member, and the row as before.
	st = FromSnapshot(contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed})
	data, _ = json.Marshal(st)
	if strings.Contains(string(data), "error_detail") || strings.Contains(FormatText(st, now), "serverConnectionFailed (") {
		t.Fatalf("a detail where there is none: %s", data)
	}
}
