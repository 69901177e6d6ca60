package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
)

// TestErrorDetailInStatus: a refused token shows as its name with the
// detail, in the JSON (last_error_detail) and in `kioskd status`'s text
// ("Last error:  serverConnectionFailed (unauthorized)"); without a
// detail the name stands alone.
func TestErrorDetailInStatus(t *testing.T) {
	now := since.Add(10 * time.Second)
	st := FromSnapshot(contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed,
		LastDetail: contract.DetailUnauthorized, Attempt: 4, Since: since, NextRetry: now.Add(time.Second)})
	if st.LastError != "serverConnectionFailed" || st.LastErrorDetail != "unauthorized" {
		t.Fatalf("status %+v", st)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"last_error":"serverConnectionFailed"`) || !strings.Contains(string(b), `"last_error_detail":"unauthorized"`) {
		t.Fatalf("JSON %s, %v", b, err)
	}
	if out := FormatText(st, now); !strings.Contains(out, "Last error:  serverConnectionFailed (unauthorized), LED code 3: ") || !strings.Contains(out, "call support: the kiosk's credential was refused") {
		t.Errorf("FormatText lacks the detail:\n%s", out)
	}
	plain := FromSnapshot(contract.Snapshot{State: contract.Disconnected, LastError: contract.NoScene})
	if plain.LastErrorDetail != "" || plain.LastErrorText() != "noScene" {
		t.Errorf("no detail: %q / %q", plain.LastErrorDetail, plain.LastErrorText())
	}
	if none := FromSnapshot(contract.Snapshot{}); none.LastErrorText() != "" {
		t.Errorf("no error: %q", none.LastErrorText())
	}
}

// TestClockDetailInStatus: a wrong clock (contract.DetailClock) shows as
// serverConnectionFailed (clock), last_error_detail "clock", and the hint
// says to wait for time sync, not to check the network.
func TestClockDetailInStatus(t *testing.T) {
	now := since.Add(10 * time.Second)
	st := FromSnapshot(contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed,
		LastDetail: contract.DetailClock, Attempt: 3, Since: since, NextRetry: now.Add(time.Second)})
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"last_error_detail":"clock"`) {
		t.Fatalf("JSON %s, %v", b, err)
	}
	out := FormatText(st, now)
	if !strings.Contains(out, "Last error:  serverConnectionFailed (clock), LED code 3: ") || !strings.Contains(out, "waiting for time sync") {
		t.Errorf("FormatText lacks the clock detail:\n%s", out)
	}
	if strings.Contains(out, "network cable / Wi-Fi") {
		t.Errorf("a wrong clock sends staff to the network:\n%s", out)
	}
}
