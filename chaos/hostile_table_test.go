package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
	"github.com/kioskd/kioskd/rtc"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// The hostile-server table: every message a server may send (and a few it
// may not: raw frames, floods, silence, stalls, a server that reads
// nothing) against every state of a connection, driving the real
// supervisor (session) with the real kioskd.dp.v1 dialect over a real
// WebSocket and, where the state needs one, a real WebRTC PeerConnection
// (table_server_test.go is the server). Rows are in table(), columns are
// the stages: before session (hello read), SearchingForDigitalPerson,
// DownloadingAssets, ConnectingToDigitalPerson with the offer pending or
// answered, Connected. `go test -v` logs the matrix of what each cell
// expects. For each cell:
//
//   - the named error (docs/BEHAVIOUR.md section 2) or reason (section 3)
//     the contract gives it: docs/PROTOCOL.md tables 4.10, 10.1 and 10.2,
//     sections 11 and 12.1 to 12.3, docs/BEHAVIOUR.md section 13b; and
//     what the kiosk says to the server on its way out (its close
//     message, or the close code of 12.1). What the kiosk must survive at
//     Connected is followed by the server's probe, close
//     controlDisconnected: the kiosk must still be Connected to take it
//     as such;
//   - the reaction: a retry after the backoff, or at once (the first quick
//     drop after Connected, one fresh session after a refused resume),
//     with the session resumed or forgotten, the devices reset after
//     mediaStreamFailed, a retry line for every retry;
//   - dials: time is a fake clock that moves only when the test moves it,
//     and the test moves it only by the delay of the retry the supervisor
//     has just announced (and, for silence and stalls, by heartbeats and
//     step deadlines while a call runs). Dials are counted at the server:
//     a dial that comes while the clock stands still, other than the
//     contract's immediate reactions, fails the cell at once; every
//     announced delay must be the backoff's (full jitter below a ceiling
//     that doubles from 1 s to 30 s), and the dials in all must be what
//     the contract allows, exactly;
//   - goroutines back to the baseline after the cell, bounded during it;
//     the heap bounded; log lines bounded under a flood; the token in no
//     log line;
//   - Connected again, with the session the contract keeps, once the
//     server behaves; and at the end, close normal at shutdown.
//
// The first connections of a cell are hostile (2 in the default run, 1
// with -short, so the second reaction of a kind, which differs for quick
// drops and refused resumes, is checked too), then the server behaves.
// The kiosk starts with a stored session, so its first hello resumes.
//
// CHAOS_TABLE_ROUNDS=N (make chaos) plays the table N times in a seeded
// random order with random timing: 1 to 4 hostile connections, a random
// backoff jitter, random pauses between the server's steps, random flood
// sizes, a stored session or not. CHAOS_SEED replays a run; each cell's
// seed is derived from it and the cell's name, so -run on one cell replays
// that cell.

// row is one line of the table: what the server does.
type row struct {
	name string
	// act is what the server does when a hostile connection reaches the
	// cell's stage; false ends the server's script there (the socket
	// stays open until the kiosk closes it).
	act func(f *flow, st stage) bool
	// want is what the contract says the kiosk does about it at col;
	// resumed: its hello asked to resume a session.
	want func(col stage, resumed bool) outcome
	// tune sets the kiosk and the server for the cell.
	tune func(col stage, k *kioskTune, s *serverTune)
	// drive is what the test does once the server has acted (moves the
	// fake clock for silence and stalls).
	drive func(x *cellRun, c *sconn)
	// check adds checks at the end of the cell.
	check func(x *cellRun)
	// flood: memory and goroutines are sampled at the reaction.
	flood bool
	// maxHostile caps the hostile connections of a cell (0: no cap).
	maxHostile int
	// expensive: seconds a connection under the race detector. The
	// default run plays the row in one column, picked by the seed;
	// CHAOS_TABLE_ROUNDS in every column.
	expensive bool
}

type outcomeKind int

const (
	survive    outcomeKind = iota // ignored or legitimate: the kiosk goes on
	failBefore                    // a failed connect (docs/BEHAVIOUR.md section 2)
	endAfter                      // a Connected session ended (section 3)
)

// outcome is what the kiosk must do about one hostile connection.
type outcome struct {
	kind      outcomeKind
	name      contract.ErrorName        // failBefore
	reason    contract.DisconnectReason // endAfter
	takenOver bool                      // endAfter: the session was given to another connection
	cause     error                     // errors.Is on the failure's cause; nil: not checked
	causeText string                    // the failure's cause contains it
	// What the server hears from the kiosk on its way out: its close
	// message ("" none), the close frame's code (0: not checked); nothing
	// is checked when the server reads nothing.
	kioskSends string
	code       int
	deaf       bool
	probe      bool // survived at Connected, then ended by the server's probe close
}

func ok() outcome { return outcome{kind: survive} }

// String is the cell as the matrix shows it.
func (o outcome) String() string {
	var s string
	switch o.kind {
	case survive:
		return "goes on"
	case failBefore:
		s = o.name.String()
	case endAfter:
		s = o.reason.String()
		if o.takenOver {
			s += " (taken over)"
		}
	}
	if o.kioskSends != "" {
		s += ", sends close " + o.kioskSends
	}
	if o.code != 0 {
		s += fmt.Sprintf(", close frame %d", o.code)
	}
	return s
}

func fail(name contract.ErrorName) outcome { return outcome{kind: failBefore, name: name} }

func ended(r contract.DisconnectReason) outcome { return outcome{kind: endAfter, reason: r} }

// violation: docs/PROTOCOL.md section 12.3; the kiosk closes with
// serverConnectionFailed before Connected, controlDisconnected after.
func violation(cause error) func(stage, bool) outcome {
	return func(col stage, _ bool) outcome {
		if col == atConnected {
			o := ended(contract.ReasonControlDisconnected)
			o.kioskSends = contract.ReasonControlDisconnected.String()
			return o
		}
		o := fail(contract.ServerConnectionFailed)
		o.cause, o.kioskSends = cause, contract.ServerConnectionFailed.String()
		return o
	}
}

// lost: a lost control socket (sections 10 and 11): serverConnectionFailed
// before Connected, controlDisconnected after; code is the close frame the
// kiosk sends (12.1), 0 when not checked.
func lost(cause error, code int) func(stage, bool) outcome {
	return func(col stage, _ bool) outcome {
		o := fail(contract.ServerConnectionFailed)
		if col == atConnected {
			o = ended(contract.ReasonControlDisconnected)
		}
		o.cause, o.code = cause, code
		return o
	}
}

// survives: the message is ignored, or legitimate, at every stage.
func survives(stage, bool) outcome { return ok() }

// survivesAfterSession: a violation before `session` (4.10), ignored or
// legitimate after it.
func survivesAfterSession(col stage, resumed bool) outcome {
	if col == atHello {
		return violation(dpv1.ErrOutOfOrder)(col, resumed)
	}
	return ok()
}

// closeWant is what a server's close with reason does (docs/PROTOCOL.md
// 10.1 and 10.2, docs/BEHAVIOUR.md sections 2, 3 and 13b).
func closeWant(reason string) func(stage, bool) outcome {
	return func(col stage, resumed bool) outcome {
		if col == atConnected {
			var o outcome
			switch reason {
			case "sessionTimeout":
				o = ended(contract.ReasonSessionTimeout)
			case "conversationEnded":
				o = ended(contract.ReasonConversationEnded)
			case "normal":
				o = ended(contract.ReasonNormal)
			case "noSessionToResume":
				o = ended(contract.ReasonControlDisconnected)
				o.takenOver = true
			default: // controlDisconnected, an error name, an unknown word
				o = ended(contract.ReasonControlDisconnected)
			}
			return o
		}
		name, known := contract.ParseErrorName(reason)
		var o outcome
		switch {
		case !known: // a disconnect reason or an unknown word before Connected
			o = fail(contract.ServerConnectionFailed)
		case name == contract.NoUserMedia, name == contract.NotSupported:
			o = fail(contract.ServerConnectionFailed)
			o.cause = dpv1.ErrProtocol
		case name == contract.NoSessionToResume && !resumed:
			o = fail(contract.ServerConnectionFailed)
			o.cause = dpv1.ErrProtocol
		default:
			o = fail(name)
		}
		o.causeText = "server closed with " + reason
		return o
	}
}

// The frames and numbers the rows send.
const (
	staleSDP     = "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=table-stale-answer\r\nt=0 0\r\n"
	unusableSDP  = "v=0\r\nthis is no SDP\r\n"
	farCandidate = "candidate:1 1 udp 2130706431 203.0.113.1 9 typ host" // TEST-NET-3: unreachable
	pingSeq      = 4242
	floodCands   = 2000
)

func sdpMid0() *string { s := "0"; return &s }

// oversized is well-formed JSON one byte over the frame limit.
func oversized() string {
	head, tail := `{"type":"progress","state":"SearchingForDigitalPerson","pad":"`, `"}`
	return head + strings.Repeat("x", dpwire.MaxFrameSize+1-len(head)-len(tail)) + tail
}

func raw(frame string) func(*flow, stage) bool {
	return func(f *flow, _ stage) bool { return f.c.raw(frame) == nil }
}

func sendMsg(m dpwire.Message) func(*flow, stage) bool {
	return func(f *flow, _ stage) bool { return f.c.send(m) == nil }
}

func closeRow(reason string) *row {
	return &row{
		name: "close-" + reason,
		act:  func(f *flow, _ stage) bool { f.c.closeWith(reason); return false },
		want: closeWant(reason),
	}
}

// table is every row, in order.
func table() []*row {
	rows := []*row{
		{name: "session",
			act: func(f *flow, st stage) bool {
				if st == atHello {
					f.sent["session"] = true
				}
				return f.c.send(dpwire.Session{SessionID: f.id, Resumed: f.resumed, HeartbeatMS: f.s.tune.heartbeatMS}) == nil
			},
			want: func(col stage, resumed bool) outcome {
				if col == atHello {
					return ok() // the first one
				}
				return violation(dpv1.ErrProtocol)(col, resumed)
			}},
	}
	for _, st := range []string{"SearchingForDigitalPerson", "DownloadingAssets", "ConnectingToDigitalPerson"} {
		rows = append(rows, &row{name: "progress-" + st,
			act: func(f *flow, at stage) bool {
				if at != atHello && at < atOffer {
					f.progressed(st) // skipped ahead (or the same step again)
				}
				return f.c.send(dpwire.Progress{State: st}) == nil
			},
			want: survivesAfterSession})
	}
	rows = append(rows,
		&row{name: "progress-queue-position",
			act:   sendMsg(dpwire.Progress{State: "SearchingForDigitalPerson", QueuePosition: 3}),
			want:  survivesAfterSession,
			check: queueReported(3)},
		&row{name: "answer",
			act: func(f *flow, st stage) bool {
				switch {
				case st == atOffer:
					return f.doAnswer() // the one due
				case f.answered != "":
					return f.c.send(dpwire.Answer{SDP: f.answered}) == nil // again
				default:
					return f.c.send(dpwire.Answer{SDP: staleSDP}) == nil // before any offer
				}
			},
			want: survives},
		&row{name: "answer-unusable",
			act: sendMsg(dpwire.Answer{SDP: unusableSDP}),
			want: func(col stage, _ bool) outcome {
				if col == atOffer {
					o := fail(contract.MediaStreamFailed)
					o.kioskSends = contract.MediaStreamFailed.String()
					return o
				}
				return ok()
			}},
		&row{name: "candidate", act: sendMsg(dpwire.Candidate{Candidate: farCandidate, SDPMid: sdpMid0()}), want: survives},
		&row{name: "candidate-end", act: sendMsg(dpwire.Candidate{End: true}), want: survives},
		&row{name: "ready",
			act: func(f *flow, st stage) bool {
				if st == atOffer || st == atAnswer {
					f.sent["ready"] = true
				}
				return f.c.send(dpwire.Ready{}) == nil
			},
			want: survivesAfterSession},
		&row{name: "ping",
			act: func(f *flow, _ stage) bool {
				if f.c.send(dpwire.Ping{Seq: pingSeq}) != nil {
					return false
				}
				return f.awaitPongs(1, pingSeq)
			},
			want: survives},
		&row{name: "pong", act: sendMsg(dpwire.Pong{Seq: 99}), want: survives},
	)
	for _, r := range []string{"noScene", "controlFailed", "sessionTimeout", "serverConnectionFailed", "mediaStreamFailed",
		"noSessionToResume", "conversationEnded", "controlDisconnected", "normal", "noUserMedia", "notSupported", "x-no-such-reason"} {
		rows = append(rows, closeRow(r))
	}
	rows = append(rows,
		&row{name: "unknown-type", act: raw(`{"type":"x-table-unknown","note":"ignore me"}`), want: survives,
			check: func(x *cellRun) {
				if n := x.k.logs.count("ignoring a server message of unknown type"); n != x.hostileConns() {
					x.t.Errorf("%d lines for the unknown type, want one per hostile connection (%d)", n, x.hostileConns())
				}
			}},
		&row{name: "binary-frame",
			act:  func(f *flow, _ stage) bool { return f.c.write(websocket.BinaryMessage, []byte{0x7b, 0x7d}) == nil },
			want: lost(dpwire.ErrMalformed, websocket.CloseProtocolError)},
		&row{name: "malformed-json", act: raw(`{"type":"progress","state":"DownloadingAssets"`), want: lost(dpwire.ErrMalformed, websocket.CloseProtocolError)},
		&row{name: "oversized", act: func(f *flow, _ stage) bool { return f.c.raw(oversized()) == nil }, want: lost(dpwire.ErrTooLarge, websocket.CloseMessageTooBig)},
		&row{name: "null-member", act: raw(`{"type":"ping","seq":null}`), want: lost(dpwire.ErrMalformed, websocket.CloseProtocolError)},
		&row{name: "seq-out-of-range", act: raw(`{"type":"ping","seq":9007199254740992}`), want: lost(dpwire.ErrMalformed, websocket.CloseProtocolError)},
		&row{name: "heartbeat-out-of-range", act: raw(`{"type":"session","session_id":"hs-x","resumed":false,"heartbeat_ms":3600000}`), want: lost(dpwire.ErrMalformed, websocket.CloseProtocolError)},
		&row{name: "flood-ping", flood: true,
			act: func(f *flow, _ stage) bool {
				n := f.s.tune.flood
				for i := 1; i <= n; i++ {
					if f.c.send(dpwire.Ping{Seq: uint64(i)}) != nil {
						return false
					}
				}
				return f.awaitPongs(n, uint64(n))
			},
			want: survives, check: boundedLogs},
		&row{name: "flood-unknown-types", flood: true,
			act: func(f *flow, _ stage) bool {
				for i := 0; i < f.s.tune.flood; i++ {
					if f.c.raw(fmt.Sprintf(`{"type":"x-flood-%d"}`, i%50)) != nil {
						return false
					}
				}
				return true
			},
			want: survives,
			check: func(x *cellRun) {
				boundedLogs(x)
				if n := x.k.logs.count("ignoring a server message of unknown type"); n > 8*x.hostileConns() {
					x.t.Errorf("%d lines for 50 unknown types, want at most 8 per connection", n)
				}
				if n := x.k.logs.count("server messages of unknown type ignored"); n != x.hostileConns() {
					x.t.Errorf("%d lines counting the unknown frames, want one per hostile connection (%d)", n, x.hostileConns())
				}
			}},
		&row{name: "flood-candidates", flood: true,
			act: func(f *flow, _ stage) bool {
				for i := 0; i < floodCands; i++ {
					c := fmt.Sprintf("candidate:%d 1 udp 2130706431 203.0.113.%d %d typ host", i, 1+i%250, 1024+i)
					if f.c.send(dpwire.Candidate{Candidate: c, SDPMid: sdpMid0()}) != nil {
						return false
					}
				}
				return true
			},
			want: violation(dpv1.ErrProtocol)},
		&row{name: "flood-progress", flood: true,
			act: func(f *flow, _ stage) bool {
				for i := 0; i < f.s.tune.flood; i++ {
					if f.c.send(dpwire.Progress{State: "SearchingForDigitalPerson"}) != nil {
						return false
					}
				}
				return true
			},
			want: survivesAfterSession, check: boundedLogs},
		&row{name: "flood-queue-position", flood: true,
			act: func(f *flow, _ stage) bool {
				for i := 0; i < f.s.tune.flood; i++ {
					if f.c.send(dpwire.Progress{State: "SearchingForDigitalPerson", QueuePosition: 7}) != nil {
						return false
					}
				}
				return true
			},
			want:  survivesAfterSession,
			check: func(x *cellRun) { boundedLogs(x); queueReported(7)(x) }},
		&row{name: "silence",
			act: func(f *flow, _ stage) bool {
				// A round trip first: the kiosk has read everything sent
				// before the silence, so its heartbeats count from here.
				if f.roundTrip(5151) {
					f.c.silent.Store(true)
				}
				return false
			},
			want:  lost(dpv1.ErrPeerDead, 0),
			drive: driveSilence},
		&row{name: "stall",
			act: func(*flow, stage) bool { return false },
			want: func(col stage, _ bool) outcome {
				if col == atConnected {
					return ok() // quiet but alive: heartbeats keep it up
				}
				o := fail(contract.SessionTimeout)
				o.cause, o.kioskSends = session.ErrStepStuck, contract.SessionTimeout.String()
				return o
			},
			tune: func(col stage, k *kioskTune, s *serverTune) {
				if col != atConnected {
					// No heartbeat falls within the step deadline the test
					// moves the clock by.
					k.heartbeat, s.heartbeatMS = 30*time.Second, 30000
				}
			},
			drive: driveStall},
		&row{name: "slow-reads",
			// The server reads nothing more and does what it can without
			// reading: before it has the offer it cannot answer, and the
			// step deadline ends the attempt; after, the kiosk connects
			// (ICE finds the kiosk from its checks, without its
			// candidates).
			act: func(f *flow, _ stage) bool { f.c.stopReading(); return true },
			want: func(col stage, _ bool) outcome {
				if col >= atOffer {
					return ok()
				}
				o := fail(contract.SessionTimeout)
				o.cause, o.deaf = session.ErrStepStuck, true
				return o
			},
			tune: func(col stage, k *kioskTune, s *serverTune) {
				if col < atOffer {
					k.heartbeat, s.heartbeatMS = 30*time.Second, 30000 // as for stall
				}
			},
			drive: func(x *cellRun, c *sconn) {
				if x.col < atOffer {
					x.awaitKioskIn(atOffer)
					x.k.clk.Advance(x.tune.stepTimeout)
				}
			}},
		&row{name: "slow-reads-flood", expensive: true,
			// The server reads nothing more and floods pings: the kiosk's
			// pongs fill the socket's buffers (megabytes: seconds under
			// the race detector), then its queue, and a pong that waits a
			// second for room ends the channel (docs/BEHAVIOUR.md section
			// 13b). The flood goes on until the kiosk closes the socket.
			act: func(f *flow, _ stage) bool {
				f.c.stopReading()
				for i := uint64(0); f.ok(); i++ {
					frame, _ := dpwire.Encode(dpwire.Ping{Seq: dpwire.MaxSeq - i}) // long pongs
					if f.c.writeWithin(websocket.TextMessage, frame, 30*time.Second) != nil {
						break
					}
				}
				return false
			},
			want: func(col stage, resumed bool) outcome {
				o := lost(dpv1.ErrPeerGone, 0)(col, resumed)
				o.deaf = true
				return o
			},
			tune:       func(_ stage, _ *kioskTune, s *serverTune) { s.smallBuffers = true },
			maxHostile: 1},
	)
	return rows
}

// roundTrip sends a ping and waits for its pong.
func (f *flow) roundTrip(seq uint64) bool {
	f.s.mu.Lock()
	n := f.c.pongs
	f.s.mu.Unlock()
	return f.c.send(dpwire.Ping{Seq: seq}) == nil && f.awaitPongs(n+1, seq)
}

// awaitPongs waits (at most 20 s) until the kiosk has answered n pings,
// the last with seq.
func (f *flow) awaitPongs(n int, seq uint64) bool {
	ctx, cancel := context.WithTimeout(f.s.ctx, 20*time.Second)
	defer cancel()
	c, s := f.c, f.s
	err := s.waitFor(ctx, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return (c.pongs >= n && c.lastPong == seq) || c.ended
	})
	s.mu.Lock()
	pongs, last := c.pongs, c.lastPong
	s.mu.Unlock()
	if err != nil || pongs != n || last != seq {
		if s.ctx.Err() == nil {
			s.t.Errorf("conn %d: %d pongs (the last %d) for %d pings (the last %d)", c.n, pongs, last, n, seq)
		}
		return false
	}
	return f.ok()
}

// queueReported: a queue position is reported while searching, once per
// change (docs/PROTOCOL.md section 7), and never from a late progress
// (section 12.3).
func queueReported(pos int) func(x *cellRun) {
	return func(x *cellRun) {
		want := 0
		if x.col == atSearching {
			want = x.hostileConns()
		}
		evs, _ := x.k.rec.Snapshot()
		n := 0
		for _, e := range evs {
			if e.Kind == contract.EventQueue {
				if e.QueuePosition != pos {
					x.t.Errorf("queue position %d reported, want %d", e.QueuePosition, pos)
				}
				n++
			}
		}
		if n != want {
			x.t.Errorf("queue position %d reported %d times, want %d", pos, n, want)
		}
	}
}

// boundedLogs: a flood gets a bounded number of log lines.
func boundedLogs(x *cellRun) {
	if n, limit := x.k.logs.len(), 40*x.m.dials; n > limit {
		x.t.Errorf("%d log lines for a flood of %d frames over %d connections, want at most %d:\n%s", n, x.srv.tune.flood, x.m.dials, limit, x.k.logs.tail(10))
	}
}

// driveSilence moves the fake clock a heartbeat at a time until the kiosk
// finds the silent server dead (docs/PROTOCOL.md section 11: three
// intervals without a frame). Each interval's ping reaching the server
// shows the kiosk's writer took the tick.
func driveSilence(x *cellRun, c *sconn) {
	x.awaitKioskIn(x.col)
	beat := time.Duration(x.srv.tune.heartbeatMS) * time.Millisecond
	if x.col == atHello {
		beat = x.tune.heartbeat
	}
	for i := 0; ; i++ {
		if i > dpwire.MissedHeartbeats+1 {
			x.fatalf("the kiosk still holds a silent server after %d heartbeats", i)
		}
		pings, gone := x.srv.pingsOf(c)
		if gone {
			return
		}
		x.k.clk.Advance(beat)
		x.awaitServer("a ping or the end of the socket", func() bool {
			p, g := x.srv.pingsOf(c)
			return p > pings || g
		})
	}
}

// driveStall: before Connected the server stops moving and the step
// deadline (docs/BEHAVIOUR.md section 5) ends the attempt; while Connected
// a quiet server that answers heartbeats keeps the kiosk Connected for
// four intervals (less than the 5 s after which a drop is no longer
// quick); the server's probe close ends it after.
func driveStall(x *cellRun, c *sconn) {
	x.awaitKioskIn(x.col)
	if x.col != atConnected {
		x.k.clk.Advance(x.tune.stepTimeout)
		return
	}
	beat := time.Duration(x.srv.tune.heartbeatMS) * time.Millisecond
	for i := 1; i <= 4; i++ {
		pings, _ := x.srv.pingsOf(c)
		x.k.clk.Advance(beat)
		x.awaitServer("the kiosk's ping", func() bool { p, g := x.srv.pingsOf(c); return p > pings || g })
		// A round trip the other way: the kiosk has read the pong before
		// the clock moves again.
		seq := uint64(7000 + i)
		if c.send(dpwire.Ping{Seq: seq}) != nil {
			x.fatalf("the quiet server's socket ended")
		}
		x.awaitServer("the kiosk's pong", func() bool {
			x.srv.mu.Lock()
			defer x.srv.mu.Unlock()
			return c.lastPong == seq || c.ended
		})
	}
	if _, gone := x.srv.pingsOf(c); gone {
		x.fatalf("the kiosk dropped a quiet server that answers its heartbeats")
	}
}

func (s *tableServer) pingsOf(c *sconn) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.pings, c.ended
}

// kioskTune is what a cell sets on its kiosk.
type kioskTune struct {
	heartbeat   time.Duration // until the server names one
	stepTimeout time.Duration
}

// tableKiosk is the supervisor with the dpv1 dialect on a fake clock.
type tableKiosk struct {
	sup   *session.Supervisor
	clk   *clocktest.Clock
	rec   *sessiontest.Recorder
	logs  *logRecords
	media *countingMedia
	store *session.Store

	drawMu sync.Mutex
	draws  []float64

	stop func()
}

const tableToken = "table-token-0123456789abcdef"

func startTableKiosk(t testing.TB, url, dir string, tune kioskTune, jitter func() float64, before func(*tableKiosk)) *tableKiosk {
	t.Helper()
	clk := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	k := &tableKiosk{clk: clk, logs: &logRecords{}, media: &countingMedia{}, store: session.NewStore(dir)}
	d, err := dpv1.New(dpv1.Config{
		URL: url, Token: tableToken, Heartbeat: tune.heartbeat, Clock: clk,
		Client: dpwire.ClientInfo{Name: "kioskd-table", Version: "0"},
		Peer:   rtc.PeerOptions{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := session.New(session.Config{
		Resume: true, StepTimeout: tune.stepTimeout, ConnectTimeout: 2 * time.Minute,
		InitialDelay: time.Second, MaxDelay: 30 * time.Second,
	}, d, session.Options{
		Media: k.media, Store: k.store, Clock: clk, Log: slog.New(k.logs),
		Rand: func() float64 {
			v := jitter()
			k.drawMu.Lock()
			k.draws = append(k.draws, v)
			k.drawMu.Unlock()
			return v
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	k.sup, k.rec = sup, sessiontest.Record(sup)
	before(k)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(ctx) }()
	var once sync.Once
	k.stop = func() { once.Do(func() { cancel(); <-done }) }
	return k
}

// connects is the supervisor's count of Connected, and a channel closed at
// its next event.
func (k *tableKiosk) connects() (int, <-chan struct{}) {
	_, changed := k.rec.Snapshot()
	return k.sup.Snapshot().Connects, changed
}

func (k *tableKiosk) draw(i int) float64 {
	k.drawMu.Lock()
	defer k.drawMu.Unlock()
	if i < len(k.draws) {
		return k.draws[i]
	}
	return -1
}

// countingMedia is session.NoMedia that counts Reset (mediaStreamFailed
// reopens the devices, docs/BEHAVIOUR.md section 2).
type countingMedia struct {
	session.NoMedia
	mu     sync.Mutex
	resets int
}

func (m *countingMedia) Reset() error {
	m.mu.Lock()
	m.resets++
	m.mu.Unlock()
	return nil
}

func (m *countingMedia) Tracks(context.Context) ([]webrtc.TrackLocal, error) { return nil, nil }

func (m *countingMedia) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resets
}

// logRecords keeps the kiosk's log lines.
type logRecords struct {
	mu    sync.Mutex
	lines []string
	msgs  []string
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String()); return true })
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func (l *logRecords) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func (l *logRecords) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

func (l *logRecords) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}

func (l *logRecords) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// model is the contract's reaction policy (docs/BEHAVIOUR.md sections 2
// and 3), kept by the test beside the supervisor: what it stores, when it
// may dial at once, and the backoff's next delay.
type model struct {
	stored    string // the session the next hello resumes
	immediate bool   // the last attempt was the immediate retry after noSessionToResume
	flaps     int    // quick drops in a row (every drop is quick on the fake clock)
	backoffN  int    // delays handed out
	dials     int
	fails     int
	discs     int
	retries   int
	connects  int
	elapsed   time.Duration // fake time spent waiting out the backoff
}

// react applies the contract to an outcome; it returns whether the next
// dial comes at once.
func (m *model) react(o outcome, resumed bool) bool {
	wasImmediate := m.immediate
	m.immediate = false
	switch o.kind {
	case failBefore:
		if o.name == contract.NoSessionToResume {
			m.stored = ""
			if resumed && !wasImmediate {
				m.immediate = true
				return true // a fresh session at once, once
			}
		}
		return false
	case endAfter:
		m.flaps++
		if o.reason == contract.ReasonSessionTimeout || o.reason == contract.ReasonConversationEnded || o.takenOver {
			m.stored = ""
		}
		return m.flaps <= 1 // the first quick drop at once, the next ones backed off
	}
	return false
}

// ceiling is the backoff's ceiling for its n-th delay (1 s doubling to 30 s).
func ceiling(n int) time.Duration {
	c := time.Second
	for i := 0; i < n && c < 30*time.Second; i++ {
		c *= 2
	}
	return min(c, 30*time.Second)
}

// cellRun is one cell being run.
type cellRun struct {
	t       *testing.T
	ctx     context.Context
	row     *row
	col     stage
	hostile int
	stored  bool
	tune    kioskTune
	srv     *tableServer
	k       *tableKiosk
	m       model
	base    *baseline
	peakG   int
	peakH   uint64
	dialAt  []time.Time // the fake time of each dial
}

// dialsPerMinute is the most dials within any minute of fake time.
func (x *cellRun) dialsPerMinute() int {
	most := 0
	for i := range x.dialAt {
		n := 0
		for j := i; j < len(x.dialAt) && x.dialAt[j].Sub(x.dialAt[i]) < time.Minute; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func (x *cellRun) fatalf(format string, args ...any) {
	x.t.Helper()
	evs, _ := x.k.rec.Snapshot()
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	dump := filepath.Join(os.TempDir(), fmt.Sprintf("hostile-table-%s-%s-goroutines.txt", x.row.name, x.col))
	_ = os.WriteFile(dump, buf, 0o644)
	x.t.Fatalf("%s × %s: %s\nevents:\n%skiosk's last lines:\n%s\n(goroutines: %s)", x.row.name, x.col, fmt.Sprintf(format, args...),
		sessiontest.Describe(evs), x.k.logs.tail(30), dump)
}

// hostileConns is how many hostile connections the kiosk dialled.
func (x *cellRun) hostileConns() int { return min(x.hostile, x.m.dials) }

func (x *cellRun) awaitServer(what string, cond func() bool) {
	x.t.Helper()
	if x.srv.waitFor(x.ctx, cond) != nil {
		x.fatalf("timed out waiting for %s at the server", what)
	}
}

// awaitKioskIn waits until the kiosk reports the state of col, so that
// its step deadline runs from there.
func (x *cellRun) awaitKioskIn(col stage) {
	x.t.Helper()
	want := map[stage]contract.ConnectionState{
		atHello: contract.SearchingForDigitalPerson, atSearching: contract.SearchingForDigitalPerson,
		atAssets: contract.DownloadingAssets, atOffer: contract.ConnectingToDigitalPerson,
		atAnswer: contract.ConnectingToDigitalPerson, atConnected: contract.Connected,
	}[col]
	for {
		_, changed := x.k.rec.Snapshot()
		if x.k.sup.Snapshot().State == want {
			return
		}
		select {
		case <-changed:
		case <-x.ctx.Done():
			x.fatalf("the kiosk never reported %s", want)
		}
	}
}

// awaitEvent waits for the n-th event of kind and returns it.
func (x *cellRun) awaitEvent(kind contract.EventKind, n int) contract.Event {
	x.t.Helper()
	for {
		evs, changed := x.k.rec.Snapshot()
		seen := 0
		for _, e := range evs {
			if e.Kind == kind {
				if seen++; seen == n {
					return e
				}
			}
		}
		select {
		case <-changed:
		case <-x.ctx.Done():
			x.fatalf("no %s #%d; %d dials", kind, n, x.srv.dials.Load())
		}
	}
}

// awaitRetry waits for the n-th retry; a dial past dials meanwhile (the
// clock stands still) fails the cell at once.
func (x *cellRun) awaitRetry(n, dials int) contract.Event {
	x.t.Helper()
	for {
		evs, changed := x.k.rec.Snapshot()
		x.srv.mu.Lock()
		srvChanged := x.srv.changed
		x.srv.mu.Unlock()
		if d := x.srv.dials.Load(); d > int64(dials) {
			x.fatalf("dial %d while the clock stands still, before retry %d: a dial without its backoff", d, n)
		}
		seen := 0
		for _, e := range evs {
			if e.Kind == contract.EventRetry {
				if seen++; seen == n {
					return e
				}
			}
		}
		select {
		case <-changed:
		case <-srvChanged:
		case <-x.ctx.Done():
			x.fatalf("no retry #%d; %d dials", n, x.srv.dials.Load())
		}
	}
}

// awaitConnected waits for the n-th Connected; a failure or a disconnect
// the model did not count fails the cell at once.
func (x *cellRun) awaitConnected(n int) contract.Event {
	x.t.Helper()
	for {
		evs, changed := x.k.rec.Snapshot()
		seen := 0
		for _, e := range evs {
			if e.Kind == contract.EventState && e.State == contract.Connected {
				if seen++; seen == n {
					return e
				}
			}
		}
		if countKinds(evs, contract.EventConnectFailed, contract.EventDisconnected) > x.m.fails+x.m.discs {
			x.fatalf("want Connected #%d, got a failure or a disconnect", n)
		}
		select {
		case <-changed:
		case <-x.ctx.Done():
			x.fatalf("not Connected (#%d); %d dials", n, x.srv.dials.Load())
		}
	}
}

func countKinds(evs []contract.Event, kinds ...contract.EventKind) int {
	n := 0
	for _, e := range evs {
		for _, k := range kinds {
			if e.Kind == k {
				n++
			}
		}
	}
	return n
}

// awaitDial waits for the kiosk's dial n and returns the connection.
func (x *cellRun) awaitDial(n int) *sconn {
	x.t.Helper()
	x.awaitServer(fmt.Sprintf("dial %d", n), func() bool { return x.srv.dials.Load() >= int64(n) })
	return x.srv.conn(n)
}

func (x *cellRun) sample() {
	if g := runtime.NumGoroutine(); g > x.peakG {
		x.peakG = g
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > x.peakH {
		x.peakH = ms.HeapInuse
	}
	if x.peakG > x.base.goroutines+maxCellGoroutines {
		x.fatalf("%d goroutines during the cell, baseline %d", x.peakG, x.base.goroutines)
	}
	if x.peakH > x.base.heap+maxCellHeap {
		x.fatalf("heap in use %d MiB during the cell, baseline %d MiB", x.peakH>>20, x.base.heap>>20)
	}
}

// Bounds of one cell above the table's baseline.
const (
	maxCellGoroutines = 400      // a kiosk and a server with a PeerConnection each: ~120
	maxCellHeap       = 64 << 20 // bytes in use, garbage included
	goroutineSlackEnd = 3        // above the baseline once a cell is over
	maxHeapGrowth     = 24 << 20 // after a GC, at the end of a cell, over the whole table
)

// run plays the cell: the hostile connections, then the one that behaves.
func (x *cellRun) run() {
	for n := 1; ; n++ {
		c := x.awaitDial(n)
		x.m.dials = n
		x.dialAt = append(x.dialAt, x.k.clk.Now())
		resumed := x.m.stored != ""
		x.awaitServer("the hello", func() bool {
			x.srv.mu.Lock()
			defer x.srv.mu.Unlock()
			return c.hadHello || c.ended
		})
		if got := c.resume(); got != x.m.stored {
			x.fatalf("dial %d resumes %q, want %q", n, got, x.m.stored)
		}
		if n > x.hostile {
			// The server behaves: Connected, with the stored session if
			// the contract kept one.
			ev := x.awaitConnected(x.m.connects + 1)
			x.m.connects++
			if resumed && (ev.SessionID != x.m.stored || !ev.Resumed) {
				x.fatalf("Connected as %q (resumed=%v), want %q resumed", ev.SessionID, ev.Resumed, x.m.stored)
			}
			if want := fmt.Sprintf("hs-%d", n); !resumed && (ev.SessionID != want || ev.Resumed) {
				x.fatalf("Connected as %q (resumed=%v), want the fresh %q", ev.SessionID, ev.Resumed, want)
			}
			return
		}
		o := x.row.want(x.col, resumed)
		if x.col == atConnected {
			ev := x.awaitConnected(x.m.connects + 1)
			x.m.connects++
			x.m.stored = ev.SessionID // stored once Connected
			if o.kind == survive {
				o = outcome{kind: endAfter, reason: contract.ReasonControlDisconnected, probe: true}
			}
		}
		x.awaitServer("the row's act", func() bool {
			x.srv.mu.Lock()
			defer x.srv.mu.Unlock()
			return c.acted || c.ended
		})
		if x.row.drive != nil {
			x.row.drive(x, c)
		}
		if o.probe {
			// Still Connected after what the row sent? The server's close
			// says: controlDisconnected if the kiosk kept the session.
			c.closeWith(contract.ReasonControlDisconnected.String())
		}
		switch o.kind {
		case survive:
			x.awaitConnected(x.m.connects + 1)
			x.m.connects++
			if evs, _ := x.k.rec.Snapshot(); countKinds(evs, contract.EventConnectFailed, contract.EventDisconnected, contract.EventRetry) != 0 {
				x.fatalf("the kiosk should have gone on undisturbed")
			}
			return
		case failBefore:
			x.m.fails++
			ev := x.awaitEvent(contract.EventConnectFailed, x.m.fails)
			if ev.ErrorName != o.name {
				x.fatalf("connect failed with %s, want %s", ev.ErrorName, o.name)
			}
			if o.cause != nil && !errors.Is(ev.Cause, o.cause) {
				x.fatalf("the failure's cause %q is not %q", ev.Cause, o.cause)
			}
			if o.causeText != "" && (ev.Cause == nil || !strings.Contains(ev.Cause.Error(), o.causeText)) {
				x.fatalf("the failure's cause %q does not say %q", ev.Cause, o.causeText)
			}
		case endAfter:
			x.m.discs++
			ev := x.awaitEvent(contract.EventDisconnected, x.m.discs)
			if ev.Reason != o.reason || ev.ByUs {
				x.fatalf("disconnected with %s (by us: %v), want %s from the server", ev.Reason, ev.ByUs, o.reason)
			}
			if o.takenOver != (ev.ErrorName == contract.NoSessionToResume) {
				x.fatalf("taken over: %v, want %v", ev.ErrorName == contract.NoSessionToResume, o.takenOver)
			}
		}
		if x.row.flood {
			x.sample()
		}
		if !o.deaf && !c.deaf() {
			x.awaitServer("the end of the socket", func() bool {
				x.srv.mu.Lock()
				defer x.srv.mu.Unlock()
				return c.ended
			})
			x.srv.mu.Lock()
			said, code := c.kioskClose, c.closeCode
			x.srv.mu.Unlock()
			if said != o.kioskSends {
				x.fatalf("the kiosk closed with %q, want %q", said, o.kioskSends)
			}
			if o.code != 0 && code != o.code {
				x.fatalf("the kiosk's close frame %d, want %d", code, o.code)
			}
		}
		if x.m.react(o, resumed) {
			continue // at once: the next dial comes while the clock stands still
		}
		x.m.retries++
		retry := x.awaitRetry(x.m.retries, n)
		jit := x.k.draw(x.m.backoffN)
		want := time.Duration(jit * float64(ceiling(x.m.backoffN)))
		x.m.backoffN++
		if jit < 0 || retry.Delay != want {
			x.fatalf("retry %d in %v, want %v (ceiling %v, jitter %.3f)", x.m.retries, retry.Delay, want, ceiling(x.m.backoffN-1), jit)
		}
		if d := x.srv.dials.Load(); d != int64(n) {
			x.fatalf("%d dials before the clock moved, want %d: a dial without its backoff", d, n)
		}
		x.m.elapsed += retry.Delay
		x.k.clk.Advance(retry.Delay)
	}
}

// baseline is what the table starts from.
type baseline struct {
	goroutines int
	heap       uint64
}

// settle waits (polling, at most 15 s) until the goroutines are back to
// the baseline, and returns the count and the heap in use after a GC.
func settle(base *baseline, slack int) (int, uint64) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		g := runtime.NumGoroutine()
		if g <= base.goroutines+slack || time.Now().After(deadline) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return g, ms.HeapInuse
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tableOpts is how a run plays the cells.
type tableOpts struct {
	rounds int
	seed   uint64
	random bool
}

func cellSeed(seed uint64, round int, name string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%s", seed, round, name)
	return h.Sum64()
}

// TestHostileTable plays every cell of the table: see the comment at the
// top of this file.
func TestHostileTable(t *testing.T) {
	o := tableOpts{rounds: 1, seed: uint64(time.Now().UnixNano())}
	if v := os.Getenv("CHAOS_TABLE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("CHAOS_TABLE_ROUNDS=%q", v)
		}
		o.rounds, o.random = n, true
	}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q", v)
		}
		o.seed = s
	}
	rows := table()
	t.Log("what the contract wants of each cell (a hello that resumed a session):\n" + matrix(rows))
	say(t, fmt.Sprintf("hostile table: %d rows × %d columns, %d round(s), seed %d (replay: CHAOS_SEED=%d CHAOS_TABLE_ROUNDS=%d)",
		len(rows), nStages, o.rounds, o.seed, o.seed, o.rounds))
	start := time.Now()
	base := &baseline{}
	base.goroutines, base.heap = settle(&baseline{goroutines: 1 << 30}, 0)
	type result struct {
		cells, dials, retries, immediate int
		elapsed                          time.Duration
		peakG, perMinute                 int
		peakH                            uint64
	}
	var res result
	for round := 1; round <= o.rounds; round++ {
		type cell struct {
			r   *row
			col stage
		}
		var cells []cell
		for _, r := range rows {
			for col := atHello; col < nStages; col++ {
				if r.expensive && !o.random && col != stage(o.seed%uint64(nStages)) {
					continue
				}
				cells = append(cells, cell{r, col})
			}
		}
		if o.random {
			rng := rand.New(rand.NewPCG(o.seed, uint64(round)))
			rng.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
		}
		for _, c := range cells {
			name := fmt.Sprintf("round%d/%s/%s", round, c.r.name, c.col)
			t.Run(name, func(t *testing.T) {
				x := playCell(t, c.r, c.col, o, cellSeed(o.seed, round, c.r.name+"/"+c.col.String()), base)
				res.cells++
				res.dials += x.m.dials
				res.retries += x.m.retries
				res.immediate += x.m.dials - 1 - x.m.retries
				res.elapsed += x.m.elapsed
				res.peakG = max(res.peakG, x.peakG)
				res.peakH = max(res.peakH, x.peakH)
				res.perMinute = max(res.perMinute, x.dialsPerMinute())
			})
			if t.Failed() {
				t.Fatalf("seed %d: stopping at the first failed cell", o.seed)
			}
		}
	}
	g, h := settle(base, goroutineSlackEnd)
	say(t, fmt.Sprintf("hostile table: %d cells in %v (seed %d): %d dials, %d after a backoff (%v of fake time waited), %d at once, at most %d in a minute of fake time; goroutines %d → %d (peak %d), heap %d → %d MiB (peak %d MiB)",
		res.cells, time.Since(start).Round(time.Millisecond), o.seed, res.dials, res.retries, res.elapsed.Round(time.Millisecond), res.immediate,
		res.perMinute, base.goroutines, g, res.peakG, base.heap>>20, h>>20, res.peakH>>20))
}

// matrix renders what each cell expects, a row a line.
func matrix(rows []*row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s", "")
	for col := atHello; col < nStages; col++ {
		fmt.Fprintf(&b, " | %-40s", col)
	}
	b.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-24s", r.name)
		for col := atHello; col < nStages; col++ {
			o := r.want(col, true)
			if o.kind == survive && col == atConnected {
				o.probe = true
			}
			cell := o.String()
			if fresh := r.want(col, false).String(); fresh != cell {
				cell += " (fresh hello: " + fresh + ")"
			}
			fmt.Fprintf(&b, " | %-40s", cell)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// playCell runs one cell from its server's start to the goroutines'
// return to the baseline.
func playCell(t *testing.T, r *row, col stage, o tableOpts, seed uint64, base *baseline) *cellRun {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ktune := kioskTune{heartbeat: time.Second, stepTimeout: 20 * time.Second}
	stune := serverTune{heartbeatMS: 1000, flood: 1000}
	hostile, stored := 2, true
	jitter := func() float64 { return 0.5 }
	if testing.Short() {
		hostile = 1
	}
	if o.random {
		hostile, stored = 1+rng.IntN(4), rng.IntN(2) == 0
		stune.flood = 100 + rng.IntN(3000)
		var mu sync.Mutex
		jr := rand.New(rand.NewPCG(rng.Uint64(), 1))
		jitter = func() float64 { mu.Lock(); defer mu.Unlock(); return jr.Float64() }
		pr := rand.New(rand.NewPCG(rng.Uint64(), 2))
		stune.pace = func() time.Duration {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(pr.IntN(15)) * time.Millisecond
		}
	}
	if r.maxHostile > 0 {
		hostile = min(hostile, r.maxHostile)
	}
	if r.tune != nil {
		r.tune(col, &ktune, &stune)
	}
	if o.random {
		t.Logf("cell seed %d: %d hostile connection(s), stored session %v, flood %d", seed, hostile, stored, stune.flood)
	}

	srv := newTableServer(t, r, col, hostile, stune)
	dir := t.TempDir()
	x := &cellRun{t: t, ctx: ctx, row: r, col: col, hostile: hostile, stored: stored, tune: ktune, srv: srv, base: base}
	if stored {
		x.m.stored = "hs-stored"
		if err := session.NewStore(dir).Save(session.Stored{SessionID: x.m.stored, ServerURL: srv.URL}); err != nil {
			t.Fatal(err)
		}
	}
	x.k = startTableKiosk(t, srv.URL, dir, ktune, jitter, func(k *tableKiosk) { srv.kiosk = k.connects })
	defer func() {
		x.k.stop()
		srv.close()
	}()
	x.run()
	x.sample()

	// Nothing more than the model says, and a retry line for every retry.
	evs, _ := x.k.rec.Snapshot()
	for kind, want := range map[contract.EventKind]int{
		contract.EventConnectFailed: x.m.fails, contract.EventDisconnected: x.m.discs, contract.EventRetry: x.m.retries,
	} {
		if n := countKinds(evs, kind); n != want {
			x.fatalf("%d %s events, want %d", n, kind, want)
		}
	}
	if n := x.k.logs.count("retrying"); n != x.m.retries {
		x.fatalf("%d retry lines for %d retries", n, x.m.retries)
	}
	if want, n := countNames(evs, contract.MediaStreamFailed), x.k.media.count(); n != want {
		x.fatalf("the devices were reset %d times for %d mediaStreamFailed", n, want)
	}

	// Shutdown: close normal on the live socket (unless the server has
	// stopped reading it).
	last := srv.conn(x.m.dials)
	x.k.stop()
	if !last.deaf() {
		x.awaitServer("the last socket's end", func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return last.ended })
		srv.mu.Lock()
		said := last.kioskClose
		srv.mu.Unlock()
		if said != contract.ReasonNormal.String() {
			x.fatalf("at shutdown the kiosk closed with %q, want normal", said)
		}
	}
	if d := srv.dials.Load(); d != int64(x.m.dials) {
		x.fatalf("%d dials in all, want %d", d, x.m.dials)
	}
	if x.k.logs.contains(tableToken) {
		x.fatalf("the token reached a log line")
	}
	if r.check != nil {
		r.check(x) // once every connection has ended and said what it had to
	}
	srv.close()
	if g, h := settle(base, goroutineSlackEnd); g > base.goroutines+goroutineSlackEnd || h > base.heap+maxHeapGrowth {
		buf := make([]byte, 1<<20)
		x.fatalf("after the cell: %d goroutines (baseline %d), heap %d MiB (baseline %d MiB)\n%s",
			g, base.goroutines, h>>20, base.heap>>20, buf[:runtime.Stack(buf, true)])
	}
	return x
}

func countNames(evs []contract.Event, name contract.ErrorName) int {
	n := 0
	for _, e := range evs {
		if e.Kind == contract.EventConnectFailed && e.ErrorName == name {
			n++
		}
	}
	return n
}
