package contract

import "fmt"

// ConnectionState is one step of a kiosk's way to a Digital Person.
// The numbers of each state live in one table, stateTable, and nowhere else.
type ConnectionState int

const (
	Disconnected ConnectionState = iota
	SearchingForDigitalPerson
	DownloadingAssets
	ConnectingToDigitalPerson
	Connected
)

// TotalSteps is what the documented API reports as totalSteps. It is 5 while
// the last step is 4; keep it so (docs/BEHAVIOUR.md section 1).
const TotalSteps = 5

// StateData is the ConnectionStateData of docs/BEHAVIOUR.md section 1.
type StateData struct {
	Name             string `json:"name"`
	CurrentStep      int    `json:"currentStep"`
	TotalSteps       int    `json:"totalSteps"`
	PercentageLoaded int    `json:"percentageLoaded"`
}

// stateTable is the single source of the exact numbers of docs/BEHAVIOUR.md section 1.
var stateTable = [...]StateData{
	Disconnected:              {"Disconnected", 0, TotalSteps, 0},
	SearchingForDigitalPerson: {"SearchingForDigitalPerson", 1, TotalSteps, 25},
	DownloadingAssets:         {"DownloadingAssets", 2, TotalSteps, 50},
	ConnectingToDigitalPerson: {"ConnectingToDigitalPerson", 3, TotalSteps, 75},
	Connected:                 {"Connected", 4, TotalSteps, 100},
}

// AllStates lists the states in step order.
var AllStates = []ConnectionState{Disconnected, SearchingForDigitalPerson, DownloadingAssets, ConnectingToDigitalPerson, Connected}

// Data returns the ConnectionStateData of s.
func (s ConnectionState) Data() StateData {
	if !s.valid() {
		return StateData{Name: s.String(), TotalSteps: TotalSteps}
	}
	return stateTable[s]
}

func (s ConnectionState) valid() bool { return s >= Disconnected && s <= Connected }

// String returns the state's name as docs/BEHAVIOUR.md section 1 spells it.
func (s ConnectionState) String() string {
	if !s.valid() {
		return fmt.Sprintf("ConnectionState(%d)", int(s))
	}
	return stateTable[s].Name
}

// Step is the state's currentStep.
func (s ConnectionState) Step() int { return s.Data().CurrentStep }

// Percentage is the state's percentageLoaded.
func (s ConnectionState) Percentage() int { return s.Data().PercentageLoaded }

// ParseConnectionState maps a state name back to its state.
func ParseConnectionState(name string) (ConnectionState, bool) {
	for _, s := range AllStates {
		if stateTable[s].Name == name {
			return s, true
		}
	}
	return Disconnected, false
}
