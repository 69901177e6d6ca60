package dpv1

import (
	"errors"
	"testing"

	"github.com/kioskd/kioskd/contract"
)

// TestTransitionTable walks the table: the normal path, skipping forward,
// and every step backwards is refused as out of order.
func TestTransitionTable(t *testing.T) {
	path := []struct {
		in   input
		want contract.ConnectionState
	}{
		{inSocketOpen, contract.SearchingForDigitalPerson},
		{inSearching, contract.SearchingForDigitalPerson},
		{inAssets, contract.DownloadingAssets},
		{inStarting, contract.ConnectingToDigitalPerson},
		{inReady, contract.ConnectingToDigitalPerson},
		{inPeerConnected, contract.ConnectingToDigitalPerson},
	}
	st := contract.Disconnected
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
	if _, err := step(contract.SearchingForDigitalPerson, inStarting); err != nil {
		t.Fatal("skipping DownloadingAssets must be allowed:", err)
	}
	backwards := []struct {
		from contract.ConnectionState
		in   input
	}{
		{contract.DownloadingAssets, inSearching}, {contract.ConnectingToDigitalPerson, inAssets}, {contract.Connected, inAssets},
		{contract.ConnectingToDigitalPerson, inSearching}, {contract.Connected, inStarting},
		{contract.SearchingForDigitalPerson, inReady}, {contract.Disconnected, inAssets},
	}
	for _, b := range backwards {
		if _, err := step(b.from, b.in); !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("%v on %v: got %v, want ErrOutOfOrder", b.in, b.from, err)
		}
	}
	// An ICE restart only in Connected, which it does not leave.
	for _, s := range contract.AllStates {
		tr, err := step(s, inNetworkChanged)
		if s == contract.Connected && (err != nil || tr.next != contract.Connected || tr.act != actRestartICE) {
			t.Errorf("network change in Connected: %v %v %v, want a restart staying Connected", tr.next, tr.act, err)
		}
		if s != contract.Connected && !errors.Is(err, ErrOutOfOrder) {
			t.Errorf("network change in %v: %v, want it ignored", s, err)
		}
	}
	for _, s := range contract.AllStates {
		if tr, err := step(s, inFailed); err != nil || tr.next != contract.Disconnected {
			t.Errorf("failure in %v: %v %v", s, tr.next, err)
		}
	}
}
