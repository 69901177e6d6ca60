package contract

import (
	"errors"
	"testing"
)

func TestStateNumbersAreExactlyTheSpec(t *testing.T) {
	want := []StateData{
		{Name: "Disconnected", CurrentStep: 0, TotalSteps: 5, PercentageLoaded: 0},
		{Name: "SearchingForDigitalPerson", CurrentStep: 1, TotalSteps: 5, PercentageLoaded: 25},
		{Name: "DownloadingAssets", CurrentStep: 2, TotalSteps: 5, PercentageLoaded: 50},
		{Name: "ConnectingToDigitalPerson", CurrentStep: 3, TotalSteps: 5, PercentageLoaded: 75},
		{Name: "Connected", CurrentStep: 4, TotalSteps: 5, PercentageLoaded: 100},
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
