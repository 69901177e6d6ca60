package systemd

import (
	"github.com/kioskd/kioskd/contract"

	"strings"
	"testing"
	"time"
)

func TestStatusLine(t *testing.T) {
	id := "3f2a9c1e-7b7d-4a57-9d2e-0b5f3c1d9a10"
	later := time.Unix(1_700_000_100, 0)
	for _, tc := range []struct {
		s    contract.Snapshot
		want string
	}{
		{contract.Snapshot{State: contract.Connected, SessionID: id}, "Connected (4/5, 100%) session " + id},
		{contract.Snapshot{State: contract.Disconnected}, "Disconnected (0/5, 0%)"},
		{contract.Snapshot{State: contract.SearchingForDigitalPerson, QueuePosition: 3}, "SearchingForDigitalPerson (1/5, 25%) queue 3"},
		{contract.Snapshot{State: contract.DownloadingAssets, SessionID: id}, "DownloadingAssets (2/5, 50%) session " + id},
		{contract.Snapshot{State: contract.ConnectingToDigitalPerson}, "ConnectingToDigitalPerson (3/5, 75%)"},
		{contract.Snapshot{State: contract.Disconnected, LastError: contract.NoScene, Attempt: 2, NextRetry: later}, "Disconnected (0/5, 0%) retrying after noScene (attempt 2)"},
		{contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed, LastDetail: contract.DetailUnauthorized, Attempt: 3, NextRetry: later}, "Disconnected (0/5, 0%) retrying after serverConnectionFailed (unauthorized) (attempt 3)"},
		{contract.Snapshot{State: contract.Disconnected, LastReason: contract.ReasonControlDisconnected, SessionID: id}, "Disconnected (0/5, 0%) after controlDisconnected session " + id},
		{contract.Snapshot{State: contract.Connected, SessionID: "evil\nREADY=1"}, "Connected (4/5, 100%) session evilREADY=1"},
	} {
		if got := StatusLine(tc.s); got != tc.want {
			t.Errorf("StatusLine(%+v)\n got %q\nwant %q", tc.s, got, tc.want)
		}
	}
	long := StatusLine(contract.Snapshot{State: contract.Connected, SessionID: strings.Repeat("a", 500)})
	if len(long) > 120 {
		t.Errorf("a huge session id is not bounded: %d bytes", len(long))
	}
}
