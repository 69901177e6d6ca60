package status

import (
	"encoding/json"
	"github.com/kioskd/kioskd/contract"

	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestFormatLine(t *testing.T) {
	retry := since.Add(5 * time.Second)
	for _, tc := range []struct {
		s    contract.Snapshot
		want string
	}{
		{contract.Snapshot{State: contract.ConnectingToDigitalPerson, SessionID: "3f2a9c1e-7b7d-4a57"}, "[###·] 75% ConnectingToDigitalPerson  session 3f2a9c1e…"},
		{contract.Snapshot{State: contract.Connected, SessionID: "short"}, "[####] 100% Connected  session short"},
		{contract.Snapshot{State: contract.Disconnected}, "[····] 0% Disconnected"},
		{contract.Snapshot{State: contract.SearchingForDigitalPerson, QueuePosition: 3}, "[#···] 25% SearchingForDigitalPerson  queue 3"},
		{contract.Snapshot{State: contract.DownloadingAssets}, "[##··] 50% DownloadingAssets"},
		{contract.Snapshot{State: contract.Disconnected, LastError: contract.NoScene, Attempt: 2, NextRetry: retry}, "[····] 0% Disconnected  retrying after noScene (attempt 2)"},
		{contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed, LastDetail: contract.DetailUnauthorized, Attempt: 3, NextRetry: retry}, "[····] 0% Disconnected  retrying after serverConnectionFailed (unauthorized) (attempt 3)"},
		{contract.Snapshot{State: contract.Connected, SessionID: "a\x1b[2Jb"}, "[####] 100% Connected  session a[2Jb"},
		{contract.Snapshot{State: contract.Connected, SessionID: "r", Conversation: contract.ConversationThinking}, "[####] 100% Connected  DP thinking  session r"},
	} {
		if got := FormatLine(FromSnapshot(tc.s)); got != tc.want {
			t.Errorf("FormatLine\n got %q\nwant %q", got, tc.want)
		}
	}
}

// TestRendererWholeID: --watch shows the whole session id (support
// searches the journal with it), control characters still dropped.
func TestRendererWholeID(t *testing.T) {
	var out bytes.Buffer
	r := NewRenderer(&out, false)
	r.WholeID = true
	r.Render(FromSnapshot(contract.Snapshot{State: contract.Connected, SessionID: "3f2a9c1e-7b7d-4a57\x1b[2J"}))
	if want := "[####] 100% Connected  session 3f2a9c1e-7b7d-4a57[2J\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

func TestRenderer(t *testing.T) {
	long := FromSnapshot(contract.Snapshot{State: contract.SearchingForDigitalPerson, QueuePosition: 12})
	short := FromSnapshot(contract.Snapshot{State: contract.Connected})

	var live bytes.Buffer
	r := NewRenderer(&live, true)
	r.Render(long)
	r.Render(short)
	r.Finish()
	l1, l2 := FormatLine(long), FormatLine(short)
	pad := strings.Repeat(" ", len([]rune(l1))-len([]rune(l2)))
	if want := "\r" + l1 + "\r" + l2 + pad + "\n"; live.String() != want {
		t.Fatalf("live output %q\nwant        %q", live.String(), want)
	}

	var plain bytes.Buffer
	r = NewRenderer(&plain, false)
	r.Render(long)
	r.Render(short)
	r.Finish()
	if want := l1 + "\n" + l2 + "\n"; plain.String() != want {
		t.Fatalf("plain output %q, want %q", plain.String(), want)
	}
	if strings.Contains(plain.String(), "\r") {
		t.Fatal("carriage return in plain output")
	}
}

func TestFormatText(t *testing.T) {
	now := since.Add(90 * time.Second)
	st := FromSnapshot(contract.Snapshot{State: contract.Disconnected, SessionID: "3f2a9c1e-7b7d", LastError: contract.NoScene,
		LastReason: contract.ReasonControlDisconnected, Attempt: 2, Since: since, NextRetry: now.Add(4 * time.Second), Connects: 3})
	out := FormatText(st, now)
	for _, want := range []string{
		"State:       Disconnected (step 0/5, 0%)\n",
		"Session:     3f2a9c1e-7b7d\n",
		"(1m30s ago)\n",
		"Last error:  noScene, LED code 2: the server has no Digital Person free (busy)\n",
		"Check:       nothing; kioskd retries. If it lasts, call support\n",
		"Last reason: controlDisconnected\n",
		"Attempt:     2\n",
		"Next retry:  in 4s\n",
		"Connects:    3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("FormatText lacks %q:\n%s", want, out)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}

// The conversation state is a row of its own, and in the JSON, only when
// the DP publishes one: a DP that publishes none changes nothing.
func TestConversationInStatus(t *testing.T) {
	now := since.Add(time.Second)
	st := FromSnapshot(contract.Snapshot{State: contract.Connected, SessionID: "r", Conversation: contract.ConversationListening})
	if st.ConversationState != "listening" {
		t.Fatalf("conversation_state %q, want listening", st.ConversationState)
	}
	if out := FormatText(st, now); !strings.Contains(out, "DP:          listening\n") {
		t.Errorf("FormatText lacks the DP row:\n%s", out)
	}
	j, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(j), `"conversation_state":"listening"`) {
		t.Errorf("JSON %s (%v) lacks conversation_state", j, err)
	}
	none := FromSnapshot(contract.Snapshot{State: contract.Connected, SessionID: "r"})
	if out := FormatText(none, now); strings.Contains(out, "DP:") {
		t.Errorf("a DP row without a conversation state:\n%s", out)
	}
	if j, _ := json.Marshal(none); strings.Contains(string(j), "conversation_state") {
		t.Errorf("JSON %s has conversation_state without one", j)
	}
}
