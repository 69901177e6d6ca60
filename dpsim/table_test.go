package dpsim

import (
	"slices"
	"testing"
)

// walk follows ins from `from` through the table and returns the states
// it went through.
func walk(t *testing.T, from state, ins ...input) []state {
	t.Helper()
	path := []state{from}
	for _, in := range ins {
		tr, ok := step(from, in)
		if !ok {
			t.Fatalf("%v → %v: no row (path so far %v)", in, from, path)
		}
		from = tr.next
		path = append(path, from)
	}
	return path
}

// TestTableWalk walks the table: a fresh session queued and connected, the
// DP starting before and after the offer, the PeerConnection before and
// after the DP, and a resume.
func TestTableWalk(t *testing.T) {
	for _, c := range []struct {
		name string
		ins  []input
		want []state
	}{
		{"queued, offer before the DP, media before the DP",
			[]input{inHello, inAttached, inQueueMoved, inQueueMoved, inQueueFront, inStepDone, inStepDone,
				inOffer, inLocalCandidate, inCandidate, inPeerConnected, inPeerConnected, inDPStarted},
			[]state{stAwaitingHello, stAttaching, stSearching, stSearching, stSearching, stSearching, stAssets, stConnecting,
				stAnswered, stAnswered, stAnswered, stMediaUp, stMediaUp, stConnected}},
		{"the DP before the offer",
			[]input{inHello, inAttached, inStepDone, inStepDone, inDPStarted, inOffer, inPeerConnected},
			[]state{stAwaitingHello, stAttaching, stSearching, stAssets, stConnecting, stDPStarted,
				stAnsweredDPStarted, stConnected}},
		{"the DP after the offer, before media",
			[]input{inHello, inAttached, inStepDone, inStepDone, inOffer, inDPStarted, inPeerDisconnected, inPeerConnected},
			[]state{stAwaitingHello, stAttaching, stSearching, stAssets, stConnecting, stAnswered,
				stAnsweredDPStarted, stAnsweredDPStarted, stConnected}},
		{"Connected, then idle",
			[]input{inHello, inAttached, inStepDone, inStepDone, inDPStarted, inOffer, inPeerConnected,
				inLocalCandidate, inCandidate, inPeerConnected, inSilenceTimer, inIdleTimeout},
			[]state{stAwaitingHello, stAttaching, stSearching, stAssets, stConnecting, stDPStarted,
				stAnsweredDPStarted, stConnected, stConnected, stConnected, stConnected, stConnected, stClosed}},
		{"resume refused",
			[]input{inHello, inResumeRefused},
			[]state{stAwaitingHello, stAttaching, stClosed}},
	} {
		if got := walk(t, stAwaitingHello, c.ins...); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

// TestTableEveryOpenStateEnds: in every state in which the loop reads, the
// client's close, a lost socket, the admin and a shutdown end the
// connection, so the loop always ends; nothing leaves stClosed.
func TestTableEveryOpenStateEnds(t *testing.T) {
	for _, st := range open {
		for _, in := range []input{inClientClose, inSocketLost, inAdminClose, inAdminDrop, inShutdown} {
			if tr, ok := step(st, in); !ok || tr.next != stClosed {
				t.Errorf("%v in %v: %v %v, want closed", in, st, tr, ok)
			}
		}
	}
	if len(table[stClosed]) != 0 {
		t.Errorf("rows out of closed: %v", table[stClosed])
	}
	// attaching lasts one action: only what attach finds moves it.
	for in := range table[stAttaching] {
		if in != inAttached && in != inResumeRefused {
			t.Errorf("attaching takes %v", in)
		}
	}
	for st, rows := range table {
		for in, tr := range rows {
			if tr.next == stay || stateNames[tr.next] == "" || inputNames[in] == "" || actionNames[tr.act] == "" {
				t.Errorf("(%v, %v) → %v: unnamed or unresolved", st, in, tr)
			}
		}
	}
}

// TestTableOutOfOrder: what docs/PROTOCOL.md section 12.3 says a server
// ignores has no row: an offer before ConnectingToDigitalPerson or a second
// one, the client's candidates before its offer, a second hello, a message
// type only a server sends.
func TestTableOutOfOrder(t *testing.T) {
	noRow := func(in input, states ...state) {
		t.Helper()
		for _, st := range states {
			if tr, ok := step(st, in); ok {
				t.Errorf("%v in %v: %v, want no row", in, st, tr)
			}
		}
	}
	noRow(inOffer, stAwaitingHello, stSearching, stAssets, stAnswered, stAnsweredDPStarted, stMediaUp, stConnected)
	noRow(inCandidate, stAwaitingHello, stSearching, stAssets, stConnecting, stDPStarted)
	noRow(inHello, attached...)
	noRow(inServerMessage, open...)
	noRow(inTakeover, stAwaitingHello) // only an attached connection has a session to hand over
}

// TestTableReasons: before Connected the server refuses with a connect
// error (docs/PROTOCOL.md section 10.1), after it with a disconnect reason
// (section 10.2); only connected reaches Connected's `ready`, and only
// from a state that has answered the offer.
func TestTableReasons(t *testing.T) {
	connectErrors := []string{ReasonNoScene, ReasonControlFailed, ReasonSessionTimeout,
		ReasonServerConnectionFailed, ReasonMediaStreamFailed, ReasonNoSessionToResume}
	disconnectReasons := []string{ReasonSessionTimeout, ReasonConversationEnded, ReasonControlDisconnected,
		ReasonNormal, ReasonNoSessionToResume}
	for st, rows := range table {
		for in, tr := range rows {
			if (tr.act == actClose || tr.act == actRefuseResume || tr.act == actHandOver) && in != inAdminClose {
				want := connectErrors
				if st == stConnected {
					want = disconnectReasons
				}
				if !slices.Contains(want, tr.reason) {
					t.Errorf("(%v, %v) closes with %q", st, in, tr.reason)
				}
			} else if tr.reason != "" {
				t.Errorf("(%v, %v) has reason %q for %v", st, in, tr.reason, tr.act)
			}
			if tr.next == stConnected && st != stConnected && !slices.Contains(withPeer, st) {
				t.Errorf("(%v, %v) reaches connected before the offer is answered", st, in)
			}
		}
	}
}

// TestTableReachable: every state can be reached from awaitingHello.
func TestTableReachable(t *testing.T) {
	seen := map[state]bool{stAwaitingHello: true}
	queue := []state{stAwaitingHello}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		for _, tr := range table[st] {
			if !seen[tr.next] {
				seen[tr.next] = true
				queue = append(queue, tr.next)
			}
		}
	}
	for st := range stateNames {
		if st != stay && !seen[st] {
			t.Errorf("%v is unreachable", st)
		}
	}
}

// TestStepDone: what the end of a step's delay means, by the scenario.
func TestStepDone(t *testing.T) {
	for _, c := range []struct {
		st    state
		queue int
		plan  plan
		want  input
	}{
		{stSearching, 3, plan{}, inQueueMoved},
		{stSearching, 2, plan{}, inQueueMoved},
		{stSearching, 1, plan{}, inQueueFront},
		{stSearching, 0, plan{}, inStepDone},
		{stSearching, 0, plan{noScene: true}, inNoScene},
		{stAssets, 0, plan{}, inStepDone},
		{stAssets, 0, plan{controlFailed: true}, inControlFailed},
		{stSearching, 0, plan{controlFailed: true}, inStepDone},
	} {
		c2 := &conn{state: c.st, queue: c.queue, plan: c.plan}
		if got := c2.stepDone(); got != c.want {
			t.Errorf("%v queue %d %+v: %v, want %v", c.st, c.queue, c.plan, got, c.want)
		}
	}
}
