package session

import (
	"errors"
	"testing"
)

func TestStateNumbersAreExactlyTheSpec(t *testing.T) {
	want := []StateData{
		{"Disconnected", 0, 5, 0},
		{"SearchingForDigitalPerson", 1, 5, 25},
		{"DownloadingAssets", 2, 5, 50},
		{"ConnectingToDigitalPerson", 3, 5, 75},
		{"Connected", 4, 5, 100},
	}
	for i, st := range AllStates {
		if got := st.Data(); got != want[i] {
			t.Errorf("%v: got %+v, want %+v", st, got, want[i])
		}
		back, ok := ParseConnectionState(st.String())
		if !ok || back != st {
			t.Errorf("ParseConnectionState(%q) = %v, %v", st, back, ok)
		}
	}
}

func TestErrorNamesAndCodes(t *testing.T) {
	names := []string{"noUserMedia", "noScene", "serverConnectionFailed", "notSupported", "mediaStreamFailed", "sessionTimeout", "controlFailed", "noSessionToResume"}
	for i, n := range AllErrorNames {
		if n.String() != names[i] || n.Code() != i+1 {
			t.Errorf("error %d: %q code %d", i, n, n.Code())
		}
		if p, ok := ParseErrorName(names[i]); !ok || p != n {
			t.Errorf("ParseErrorName(%q) = %v", names[i], p)
		}
	}
	err := error(NewConnectError(NoScene, errors.New("busy")))
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Name != NoScene {
		t.Fatal("errors.As does not find the ConnectError")
	}
	if !errors.Is(err, ErrNoScene) || errors.Is(err, ErrControlFailed) {
		t.Fatal("errors.Is does not match on the name")
	}
	for i, r := range AllDisconnectReasons {
		want := []string{"sessionTimeout", "conversationEnded", "controlDisconnected", "normal"}[i]
		if r.String() != want {
			t.Errorf("reason %d = %q, want %q", i, r, want)
		}
	}
}

// TestTransitionTable walks the table: the normal path, skipping forward,
// and every step backwards is refused as out of order.
func TestTransitionTable(t *testing.T) {
	path := []struct {
		in   input
		want ConnectionState
	}{
		{inSocketOpen, SearchingForDigitalPerson},
		{inSearching, SearchingForDigitalPerson},
		{inAssets, DownloadingAssets},
		{inStarting, ConnectingToDigitalPerson},
		{inReady, ConnectingToDigitalPerson},
		{inPeerConnected, ConnectingToDigitalPerson},
	}
	st := Disconnected
	for _, p := range path {
		tr, err := step(st, p.in)
		if err != nil {
			t.Fatalf("%v on %v: %v", p.in, st, err)
		}
		if tr.next != p.want {
			t.Fatalf("%v on %v → %v, want %v", p.in, st, tr.next, p.want)
		}
		st = tr.next
	}
	if _, err := step(SearchingForDigitalPerson, inStarting); err != nil {
		t.Fatal("skipping DownloadingAssets must be allowed:", err)
	}
	backwards := []struct {
		from ConnectionState
		in   input
	}{
		{DownloadingAssets, inSearching}, {ConnectingToDigitalPerson, inAssets}, {Connected, inAssets},
		{ConnectingToDigitalPerson, inSearching}, {Connected, inStarting},
		{SearchingForDigitalPerson, inReady}, {Disconnected, inAssets},
	}
	for _, b := range backwards {
		if _, err := step(b.from, b.in); !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("%v on %v: got %v, want ErrOutOfOrder", b.in, b.from, err)
		}
	}
	for _, s := range AllStates {
		if tr, err := step(s, inFailed); err != nil || tr.next != Disconnected {
			t.Errorf("failure in %v: %v %v", s, tr.next, err)
		}
	}
}
