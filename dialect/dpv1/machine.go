package dpv1

import (
	"fmt"

	"github.com/kioskd/kioskd/contract"
)

// input is what moves a connection from one state to the next.
type input int

const (
	inSocketOpen    input = iota + 1 // the control websocket is open
	inSearching                      // server: progress SearchingForDigitalPerson
	inAssets                         // server: progress DownloadingAssets
	inStarting                       // server: progress ConnectingToDigitalPerson
	inReady                          // server: ready (the DP is up)
	inPeerConnected                  // our PeerConnection reached connected
	inFailed                         // anything that ends the connection
	// inNetworkChanged: the host's network changed, or the media path went
	// quiet with the control socket alive; only Connected acts on it (an
	// ICE restart, restart.go), and stays Connected.
	inNetworkChanged
)

var inputNames = map[input]string{
	inSocketOpen: "socketOpen", inSearching: "searching", inAssets: "assets",
	inStarting: "starting", inReady: "ready", inPeerConnected: "peerConnected", inFailed: "failed",
	inNetworkChanged: "networkChanged",
}

func (i input) String() string { return inputNames[i] }

// action is what the call does on a transition.
type action int

const (
	actNone       action = iota
	actSendHello         // say hello (with the session to resume)
	actOffer             // build the PeerConnection and send the offer
	actMarkReady         // remember the server's ready; Connected if the peer is up too
	actMarkPeer          // remember the peer is up; Connected if ready came too
	actTearDown          // close everything
	actRestartICE        // restart ICE on the PeerConnection (docs/PROTOCOL.md section 4.12)
)

type transition struct {
	next contract.ConnectionState
	act  action
}

// transitions is the connection state machine, read as a table:
// (state, input) → (next state, action). A pair not in the table is out of
// order (a step backwards, ready before the DP is starting): the call logs
// it and ignores it, so a confused server cannot move the kiosk backwards,
// and the supervisor's step deadline bounds any stall it causes. Steps may
// be skipped forward (a server may resume straight to
// ConnectingToDigitalPerson).
var transitions = map[contract.ConnectionState]map[input]transition{
	contract.Disconnected: {
		inSocketOpen: {contract.SearchingForDigitalPerson, actSendHello},
	},
	contract.SearchingForDigitalPerson: {
		inSearching: {contract.SearchingForDigitalPerson, actNone}, // a new queue position
		inAssets:    {contract.DownloadingAssets, actNone},
		inStarting:  {contract.ConnectingToDigitalPerson, actOffer},
	},
	contract.DownloadingAssets: {
		inAssets:   {contract.DownloadingAssets, actNone}, // a repeated event: reported once
		inStarting: {contract.ConnectingToDigitalPerson, actOffer},
	},
	contract.ConnectingToDigitalPerson: {
		inStarting:      {contract.ConnectingToDigitalPerson, actNone}, // repeated; no second offer
		inReady:         {contract.ConnectingToDigitalPerson, actMarkReady},
		inPeerConnected: {contract.ConnectingToDigitalPerson, actMarkPeer},
	},
	contract.Connected: {
		inReady:          {contract.Connected, actNone},
		inPeerConnected:  {contract.Connected, actNone}, // ICE came back after a blip
		inNetworkChanged: {contract.Connected, actRestartICE},
	},
}

// step looks up (from, in). inFailed is accepted in every state.
func step(from contract.ConnectionState, in input) (transition, error) {
	if in == inFailed {
		return transition{contract.Disconnected, actTearDown}, nil
	}
	if t, ok := transitions[from][in]; ok {
		return t, nil
	}
	return transition{}, fmt.Errorf("%w: %s while %s", ErrOutOfOrder, in, from)
}
