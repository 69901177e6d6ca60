package status

import (
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
