package dpsim

import "fmt"

// A control connection, as the server sees it, is a state machine read as
// a table: (state, input) → (next state, action), like the client's. The
// states follow the steps of docs/PROTOCOL.md section 5 from the server's
// side; ConnectingToDigitalPerson is split by what has happened of the
// three things `ready` waits for (the offer answered, the DP started, the
// PeerConnection connected), so that "ready when both hold" is a row of
// the table and not a test of flags.

// state is where a control connection is.
type state int

const (
	stAwaitingHello     state = iota + 1 // upgraded; waiting for hello (10 s, docs/PROTOCOL.md section 12.4)
	stAttaching                          // hello read; being bound to a fresh or a resumed session
	stSearching                          // progress SearchingForDigitalPerson sent (then each queue position)
	stAssets                             // progress DownloadingAssets sent
	stConnecting                         // progress ConnectingToDigitalPerson sent; no offer yet, the DP starting
	stDPStarted                          // the DP has started; no offer yet
	stAnswered                           // the offer answered; the DP starting, the PeerConnection not connected
	stAnsweredDPStarted                  // the offer answered, the DP started; the PeerConnection not connected
	stMediaUp                            // the PeerConnection connected; the DP still starting (or stalled)
	stConnected                          // `ready` sent: the session is Connected
	stClosed                             // over: the loop ends

	// stay, in a shared row, is the state the row is added to.
	stay state = -1
)

var stateNames = map[state]string{
	stAwaitingHello: "awaitingHello", stAttaching: "attaching", stSearching: "searching", stAssets: "assets",
	stConnecting: "connecting", stDPStarted: "dpStarted", stAnswered: "answered",
	stAnsweredDPStarted: "answeredDPStarted", stMediaUp: "mediaUp", stConnected: "connected", stClosed: "closed",
	stay: "stay",
}

func (s state) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// stepOf is the step a state shows in the session list and the admin API;
// entering a state of another step sends that step's progress (conn.enter).
var stepOf = map[state]Step{
	stSearching: StepSearching, stAssets: StepAssets,
	stConnecting: StepConnecting, stDPStarted: StepConnecting, stAnswered: StepConnecting,
	stAnsweredDPStarted: StepConnecting, stMediaUp: StepConnecting,
	stConnected: StepConnected,
}

// input is what moves a connection.
type input int

const (
	// From the client (docs/PROTOCOL.md section 4).
	inHello         input = iota + 1
	inOffer               // its SDP offer
	inICERestart          // its ICE-restart offer (protocol 1.3)
	inCandidate           // one of its ICE candidates, or its end marker
	inClientClose         // its `close`
	inServerMessage       // a message type only a server sends
	inSocketLost          // the socket ended without the client's `close`
	// From the admin API, the server and other connections.
	inAdminClose // close with the admin's reason (POST /close, CloseAll)
	inAdminDrop  // cut the socket (POST /drop, Drop)
	inTakeover   // a newer connection resumed this session
	inShutdown   // Server.Close
	// The connection's timers.
	inHelloTimeout   // no hello in time
	inStepDone       // the step's scripted delay is over
	inQueueMoved     // ... while queued: the next position
	inQueueFront     // ... while queued at position 1: the queue is done
	inNoScene        // ... while searching, under Scenario.NoScene
	inControlFailed  // ... while downloading assets, under Scenario.ControlFailed
	inDPStarted      // the DP's start-up time is over
	inMediaTimeout   // the PeerConnection did not connect in time after the answer
	inConnectTimeout // not Connected in time after hello
	inIdleTimeout    // Connected for Scenario.IdleTimeout
	inDropTimer      // Scenario.Drop: time to cut the socket
	inSilenceTimer   // Scenario.Silence: time to go mute
	// From pion.
	inLocalCandidate   // one of the server's candidates, or the end of gathering
	inPeerConnected    // the PeerConnection is connected
	inPeerDisconnected // the PeerConnection is disconnected (it may come back)
	inPeerFailed       // the PeerConnection failed
	// What an action found.
	inAttached        // the hello got its session
	inResumeRefused   // the session the hello named cannot be resumed
	inOfferUnusable   // the offer could not be answered
	inRestartUnusable // the ICE-restart offer could not be answered
)

var inputNames = map[input]string{
	inHello: "hello", inOffer: "offer", inICERestart: "iceRestart", inCandidate: "candidate", inClientClose: "clientClose",
	inServerMessage: "serverMessage", inSocketLost: "socketLost",
	inAdminClose: "adminClose", inAdminDrop: "adminDrop", inTakeover: "takeover", inShutdown: "shutdown",
	inHelloTimeout: "helloTimeout", inStepDone: "stepDone", inQueueMoved: "queueMoved", inQueueFront: "queueFront",
	inNoScene: "noScene", inControlFailed: "controlFailed", inDPStarted: "dpStarted", inMediaTimeout: "mediaTimeout",
	inConnectTimeout: "connectTimeout", inIdleTimeout: "idleTimeout", inDropTimer: "dropTimer", inSilenceTimer: "silenceTimer",
	inLocalCandidate: "localCandidate", inPeerConnected: "peerConnected", inPeerDisconnected: "peerDisconnected",
	inPeerFailed: "peerFailed", inAttached: "attached", inResumeRefused: "resumeRefused", inOfferUnusable: "offerUnusable",
	inRestartUnusable: "restartUnusable",
}

func (i input) String() string {
	if n, ok := inputNames[i]; ok {
		return n
	}
	return fmt.Sprintf("input(%d)", int(i))
}

// fromClient says whether i is a message from the client: one that no row
// takes is out of order, and logged as such (docs/PROTOCOL.md section 12.3).
func (i input) fromClient() bool {
	switch i {
	case inHello, inOffer, inICERestart, inCandidate, inClientClose, inServerMessage:
		return true
	}
	return false
}

// action is what a transition does (conn.act), before the connection is in
// its next state.
type action int

const (
	actNone            action = iota
	actAttach                 // bind the hello to its session; inAttached or inResumeRefused follows
	actStartSession           // send `session` (and a hostile mode's raw frames); arm the connect deadline
	actRefuseResume           // send close noSessionToResume, close the socket
	actQueueMoved             // send progress with the next queue position
	actQueueFront             // the queue is done: the searching delay starts
	actAnswer                 // build the PeerConnection and answer; inOfferUnusable follows if it cannot
	actAddCandidate           // apply the client's candidate
	actRestartICE             // answer an ICE restart on the PeerConnection; inRestartUnusable follows if it cannot
	actTrickle                // send the server's candidate (or the end marker)
	actMediaUp                // start the DP's face and voice
	actLogDisconnected        // log it; ICE may recover
	actGoSilent               // write nothing more, not even pongs
	actClose                  // send close with the row's reason (the admin's for inAdminClose), close the socket
	actClientClosed           // record the client's reason, close the socket
	actHandOver               // send close noSessionToResume, close the socket at once
	actDrop                   // cut the socket: no close message, no close frame
	actCloseProtocol          // close frame 1002, no message
	actCloseGoingAway         // close frame 1001, no message
	actLost                   // log why the socket ended
)

var actionNames = map[action]string{
	actNone: "none", actAttach: "attach", actStartSession: "startSession", actRefuseResume: "refuseResume",
	actQueueMoved: "queueMoved", actQueueFront: "queueFront", actAnswer: "answer", actAddCandidate: "addCandidate", actRestartICE: "restartICE",
	actTrickle: "trickle", actMediaUp: "mediaUp", actLogDisconnected: "logDisconnected", actGoSilent: "goSilent",
	actClose: "close", actClientClosed: "clientClosed", actHandOver: "handOver", actDrop: "drop",
	actCloseProtocol: "closeProtocol", actCloseGoingAway: "closeGoingAway", actLost: "lost",
}

func (a action) String() string {
	if n, ok := actionNames[a]; ok {
		return n
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// transition is a row's outcome: the next state, the action, and for
// actClose the reason the server sends.
type transition struct {
	next   state
	act    action
	reason string
}

// transitions are the rows particular to each state. A pair that is neither
// here nor in shared is ignored: a message from the client out of order is
// logged (docs/PROTOCOL.md section 12.3), a timer or pion event that no
// longer matters is dropped.
var transitions = map[state]map[input]transition{
	stAwaitingHello: {
		inHello:        {stAttaching, actAttach, ""},
		inHelloTimeout: {stClosed, actCloseProtocol, ""},
		inShutdown:     {stClosed, actCloseGoingAway, ""},
	},
	stAttaching: {
		inAttached:      {stSearching, actStartSession, ""},
		inResumeRefused: {stClosed, actRefuseResume, ReasonNoSessionToResume},
	},
	stSearching: {
		inQueueMoved: {stSearching, actQueueMoved, ""},
		inQueueFront: {stSearching, actQueueFront, ""},
		inStepDone:   {stAssets, actNone, ""},
		inNoScene:    {stClosed, actClose, ReasonNoScene},
	},
	stAssets: {
		inStepDone:      {stConnecting, actNone, ""},
		inControlFailed: {stClosed, actClose, ReasonControlFailed},
	},
	stConnecting: {
		inOffer:     {stAnswered, actAnswer, ""},
		inDPStarted: {stDPStarted, actNone, ""},
	},
	stDPStarted: {
		inOffer: {stAnsweredDPStarted, actAnswer, ""},
	},
	stAnswered: {
		inOfferUnusable:   {stClosed, actClose, ReasonMediaStreamFailed},
		inRestartUnusable: {stClosed, actClose, ReasonMediaStreamFailed},
		inDPStarted:       {stAnsweredDPStarted, actNone, ""},
		inPeerConnected:   {stMediaUp, actMediaUp, ""},
		inMediaTimeout:    {stClosed, actClose, ReasonMediaStreamFailed},
	},
	stAnsweredDPStarted: {
		inOfferUnusable:   {stClosed, actClose, ReasonMediaStreamFailed},
		inRestartUnusable: {stClosed, actClose, ReasonMediaStreamFailed},
		inPeerConnected:   {stConnected, actMediaUp, ""},
		inMediaTimeout:    {stClosed, actClose, ReasonMediaStreamFailed},
	},
	stMediaUp: {
		inRestartUnusable: {stClosed, actClose, ReasonMediaStreamFailed},
		inDPStarted:       {stConnected, actNone, ""},
		inPeerConnected:   {stMediaUp, actNone, ""}, // pion reports it again
	},
	stConnected: {
		inPeerConnected: {stConnected, actNone, ""},
		// The kiosk restarts ICE before pion's failed timeout (protocol
		// 1.3); failed means the restarts did not help: it resumes.
		inPeerFailed:      {stClosed, actClose, ReasonControlDisconnected},
		inRestartUnusable: {stClosed, actClose, ReasonControlDisconnected},
		inIdleTimeout:     {stClosed, actClose, ReasonSessionTimeout},
		inDropTimer:       {stClosed, actDrop, ""},
		inShutdown:        {stClosed, actClose, ReasonControlDisconnected},
	},
}

// Groups of states that share rows.
var (
	// open: the loop reads the socket (stAttaching lasts one action).
	open = []state{stAwaitingHello, stSearching, stAssets, stConnecting, stDPStarted,
		stAnswered, stAnsweredDPStarted, stMediaUp, stConnected}
	// attached: bound to a session.
	attached = []state{stSearching, stAssets, stConnecting, stDPStarted,
		stAnswered, stAnsweredDPStarted, stMediaUp, stConnected}
	// beforeConnected: attached, not yet Connected.
	beforeConnected = []state{stSearching, stAssets, stConnecting, stDPStarted,
		stAnswered, stAnsweredDPStarted, stMediaUp}
	// withPeer: the offer has been answered; there is a PeerConnection.
	withPeer = []state{stAnswered, stAnsweredDPStarted, stMediaUp, stConnected}
)

// shared are rows added to each state of a group, unless the state has a
// row of its own for the input.
var shared = []struct {
	states []state
	rows   map[input]transition
}{
	{open, map[input]transition{
		inClientClose: {stClosed, actClientClosed, ""},
		inSocketLost:  {stClosed, actLost, ""},
		inAdminClose:  {stClosed, actClose, ""}, // the admin's reason
		inAdminDrop:   {stClosed, actDrop, ""},
	}},
	{attached, map[input]transition{
		inTakeover:     {stClosed, actHandOver, ReasonNoSessionToResume},
		inSilenceTimer: {stay, actGoSilent, ""},
	}},
	{beforeConnected, map[input]transition{
		inConnectTimeout: {stClosed, actClose, ReasonSessionTimeout},
		inShutdown:       {stClosed, actClose, ReasonServerConnectionFailed},
	}},
	{withPeer, map[input]transition{
		inCandidate:        {stay, actAddCandidate, ""},
		inICERestart:       {stay, actRestartICE, ""},
		inLocalCandidate:   {stay, actTrickle, ""},
		inPeerDisconnected: {stay, actLogDisconnected, ""},
		inPeerFailed:       {stClosed, actClose, ReasonMediaStreamFailed},
	}},
}

// table is transitions with the shared rows added: what step looks up.
var table = build()

func build() map[state]map[input]transition {
	t := map[state]map[input]transition{}
	for st, rows := range transitions {
		t[st] = map[input]transition{}
		for in, tr := range rows {
			t[st][in] = tr
		}
	}
	for _, g := range shared {
		for _, st := range g.states {
			if t[st] == nil {
				t[st] = map[input]transition{}
			}
			for in, tr := range g.rows {
				if _, own := t[st][in]; own {
					continue
				}
				if tr.next == stay {
					tr.next = st
				}
				t[st][in] = tr
			}
		}
	}
	return t
}

// step looks up (from, in); false if the table has no such row.
func step(from state, in input) (transition, bool) {
	tr, ok := table[from][in]
	return tr, ok
}
