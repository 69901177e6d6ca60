//go:build livekit

package livekit_test

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/livekit"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

func disconnects(evs []contract.Event) []contract.DisconnectReason {
	var out []contract.DisconnectReason
	for _, e := range evs {
		if e.Kind == contract.EventDisconnected {
			out = append(out, e.Reason)
		}
	}
	return out
}

func isDisconnected(e contract.Event) bool { return e.Kind == contract.EventDisconnected }

// isPathRestart: an in-call repair of the media path reported, with that
// result.
func isPathRestart(recovered bool) func(contract.Event) bool {
	return func(e contract.Event) bool { return e.Kind == contract.EventPathRestart && e.Recovered == recovered }
}

// lastOf is the last event that f holds of.
func lastOf(evs []contract.Event, f func(contract.Event) bool) contract.Event {
	var out contract.Event
	for _, e := range evs {
		if f(e) {
			out = e
		}
	}
	return out
}

const (
	msgResumed = "LiveKit session resumed: media path back"
	msgResume  = "resuming the LiveKit session"
)

// A signalling cut while Connected is LiveKit's own resume: the kiosk
// opens a new signal channel with reconnect=1 as the same participant (its
// SID unchanged: no new session, no rejoin), restarts ICE, and stays
// Connected throughout: no Disconnected, no new state. Media never stops
// (the DP's voice has no gap longer than a jitter buffer's), and the
// resumed signalling works: the DP leaving afterwards is seen at once.
func TestSignallingCutResumesInCall(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-cut"
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "ws://"))
	dp := srv.JoinDP(t, room, "dp-1")
	k := startKiosk(t, proxy.URL(), livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	sid := srv.ParticipantSID(t, room, "kiosk-1")
	k.sink.waitAudio(t, ctx, 10)

	for i := 1; i <= 2; i++ { // twice: a resumed call resumes again
		before := dp.Received()
		k.sink.Mark()
		proxy.Cut()
		line := k.log.wait(t, ctx, msgResumed, i)
		if got := proxy.resumes.Load(); got != int64(i) {
			t.Fatalf("cut %d: %d resume requests, want %d", i, got, i)
		}
		if got := srv.ParticipantSID(t, room, "kiosk-1"); got != sid {
			t.Fatalf("cut %d: the kiosk's participant is %q, was %q: a rejoin, not a resume", i, got, sid)
		}
		if _, ok := dp.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets > before.AudioPackets+25 }); !ok {
			t.Fatalf("cut %d: the DP receives nothing of the kiosk after the resume", i)
		}
		k.sink.waitAudio(t, ctx, 25)
		t.Logf("cut %d: resumed in %v ms; the DP's voice at the kiosk: longest gap %v", i, line.Attrs["took_ms"], k.sink.MaxGap())
		if g := k.sink.MaxGap(); g > time.Second {
			t.Fatalf("cut %d: the DP's voice stopped for %v during the resume", i, g)
		}
	}
	evs := k.rec.WaitFor(t, ctx, "two recovered path restarts", func(evs []contract.Event) bool { return count(evs, isPathRestart(true)) == 2 })
	if d := disconnects(evs); len(d) != 0 || count(evs, isConnected) != 1 {
		t.Fatalf("an in-call resume showed on the contract: disconnects %v\n%s", d, sessiontest.Describe(evs))
	}

	dp.Leave()
	evs = k.rec.WaitFor(t, ctx, "conversationEnded", func(evs []contract.Event) bool { return count(evs, isDisconnected) == 1 })
	if d := disconnects(evs); d[0] != contract.ReasonConversationEnded || k.log.count("the Digital Person left the room") != 1 {
		t.Fatalf("the DP left after the resume: %v (want conversationEnded from its leave)\n%s", d, sessiontest.Describe(evs))
	}
}

// When the resume cannot get through within its bound (here the proxy
// refuses every reconnect=1), the call ends with controlDisconnected and
// the supervisor joins the room again at once: the rejoin second, the same
// room, the same identity, the session id resumed.
func TestResumeRefusedRejoins(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-rejoin"
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "ws://"))
	srv.JoinDP(t, room, "dp-1")
	k := startKiosk(t, proxy.URL(), livekittest.Token(t, room, "kiosk-1", false), func(_ *session.Config, c *livekit.Config) {
		c.ResumeTimeout = 1500 * time.Millisecond
	})
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	sid := srv.ParticipantSID(t, room, "kiosk-1")
	k.sink.waitAudio(t, ctx, 10)
	proxy.refuseResume.Store(true)
	cut := time.Now()
	proxy.Cut()
	evs := k.rec.WaitFor(t, ctx, "Connected again", connected(2))
	last, disc := lastOf(evs, isConnected), lastOf(evs, isDisconnected)
	if count(evs, isPathRestart(false)) != 1 || count(evs, isPathRestart(true)) != 0 {
		t.Fatalf("want the refused resume reported as one failed path restart\n%s", sessiontest.Describe(evs))
	}
	if d := disconnects(evs); len(d) != 1 || d[0] != contract.ReasonControlDisconnected || !last.Resumed || last.SessionID != room {
		t.Fatalf("after a refused resume: disconnects %v, Connected in %q resumed %v; want controlDisconnected, then %q resumed\n%s",
			d, last.SessionID, last.Resumed, room, sessiontest.Describe(evs))
	}
	if n := proxy.resumes.Load(); n < 2 {
		// A refused connection is tried again (the server restarting), in
		// the bound: 0, 200 ms, 500 ms apart.
		t.Fatalf("%d resume attempts before the rejoin, want 2 or more", n)
	}
	if got := srv.ParticipantSID(t, room, "kiosk-1"); got == sid || got == "" {
		t.Fatalf("the kiosk's participant %q after the rejoin, was %q", got, sid)
	}
	// The bound ends the call, not ICE failing (13 s): slack for a loaded
	// machine, far below that.
	if gone := disc.Time.Sub(cut); gone > 1500*time.Millisecond+5*time.Second {
		t.Fatalf("the call ended %v after the cut, past the resume's bound (1.5 s)", gone)
	}
	k.sink.Mark()
	k.sink.waitAudio(t, ctx, 1)
	t.Logf("rejoin: Disconnected → Connected %v; cut → the DP's voice back %v (the refused resume's attempts included)",
		last.Time.Sub(disc.Time), time.Since(cut))
}

// A network change while Connected (the daemon's netwatch calls
// NetworkChanged) is what LiveKit's clients do on one: a resume with an
// ICE restart of both PeerConnections, the participant and the Connected
// state kept, media flowing again.
func TestNetworkChangeResumesInCall(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-netchange"
	dp := srv.JoinDP(t, room, "dp-1")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	sid := srv.ParticipantSID(t, room, "kiosk-1")
	k.sink.waitAudio(t, ctx, 10)
	before := dp.Received()
	k.sink.Mark()
	k.d.NetworkChanged("test: a new default route")
	line := k.log.wait(t, ctx, msgResumed, 1)
	checkResumedInCall(t, ctx, k, srv, dp, room, sid, before)
	t.Logf("network change: resumed in %v ms; the DP's voice at the kiosk: longest gap %v", line.Attrs["took_ms"], k.sink.MaxGap())
}

// A network change before Connected restarts nothing (the step deadlines
// cover an attempt).
func TestNetworkChangeBeforeConnectedIgnored(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-netchange-early"
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "Searching", func(evs []contract.Event) bool {
		return count(evs, func(e contract.Event) bool { return e.State == contract.SearchingForDigitalPerson }) == 1
	})
	k.d.NetworkChanged("test")
	srv.JoinDP(t, room, "dp-1")
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if n := k.log.count(msgResume); n != 0 {
		t.Fatalf("%d resumes before Connected", n)
	}
}

// livekit-server killed and restarted on the same ports: its rooms (in
// memory) are gone, the resume finds no server and then no participant,
// the call ends with controlDisconnected, and the kiosk joins the room the
// restarted server makes anew under the same name when the DP is back:
// the same session, resumed. With SIGTERM: a first one drains (the kiosk
// stays Connected), a second shuts down with SERVER_SHUTDOWN
// (controlDisconnected), and the same holds.
func TestServerRestartResumesTheRoom(t *testing.T) {
	for _, how := range []string{"kill", "sigterm"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t, 120*time.Second)
			srv := livekittest.Start(t)
			room := "lobby-restart-" + how
			dp := srv.JoinDP(t, room, "dp-1")
			k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
			k.rec.WaitFor(t, ctx, "Connected", connected(1))
			if how == "kill" {
				srv.Kill()
			} else {
				srv.Signal(t, syscall.SIGTERM)
				k.sink.waitAudio(t, ctx, 50) // draining: the call goes on
				if evs, _ := k.rec.Snapshot(); len(disconnects(evs)) != 0 {
					d := disconnects(evs)
					t.Fatalf("a draining server ended the call: %v", d)
				}
				srv.Signal(t, syscall.SIGTERM)
				select {
				case <-srv.Exited():
				case <-ctx.Done():
					t.Fatal("livekit-server did not exit on the second SIGTERM")
				}
			}
			dp.Leave()
			k.rec.WaitFor(t, ctx, "Disconnected", func(evs []contract.Event) bool { return count(evs, isDisconnected) == 1 })
			srv.Restart(t)
			srv.JoinDP(t, room, "dp-2")
			evs := k.rec.WaitFor(t, ctx, "Connected again", connected(2))
			last := evs[len(evs)-1]
			if d := disconnects(evs); len(d) != 1 || d[0] != contract.ReasonControlDisconnected || !last.Resumed || last.SessionID != room {
				t.Fatalf("after the restart: disconnects %v, Connected in %q resumed %v; want controlDisconnected, then %q resumed\n%s",
					d, last.SessionID, last.Resumed, room, sessiontest.Describe(evs))
			}
			for _, e := range evs {
				if e.Kind == contract.EventConnectFailed && e.ErrorName == contract.NoSessionToResume {
					t.Fatalf("the recreated room was refused as noSessionToResume\n%s", sessiontest.Describe(evs))
				}
			}
			// The second SIGTERM closes every participant with
			// SERVER_SHUTDOWN; whose leave the kiosk sees first (the DP's
			// or its own) varies, the reaction does not.
			if how == "sigterm" && !k.log.has("left the LiveKit room", "reason", "SERVER_SHUTDOWN") &&
				!k.log.has("the Digital Person left the room", "reason", "SERVER_SHUTDOWN") {
				t.Fatal("no SERVER_SHUTDOWN was logged")
			}
		})
	}
}

// A Digital Person that stops sending (crashed, its participant still in
// the room for LiveKit's ~22 s) ends the conversation after
// DefaultDPSilence, as its leaving does: conversationEnded.
func TestDPSilenceEndsTheConversation(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-silence"
	dp := srv.JoinDP(t, room, "dp-1")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	k.sink.waitAudio(t, ctx, 10)
	dp.Silence(true)
	silent := time.Now()
	evs := k.rec.WaitFor(t, ctx, "Disconnected", func(evs []contract.Event) bool { return count(evs, isDisconnected) == 1 })
	took := time.Since(silent)
	if d := disconnects(evs); d[0] != contract.ReasonConversationEnded || k.log.count("the Digital Person is silent; ending the conversation") != 1 {
		t.Fatalf("a silent DP: %v, want conversationEnded for its silence\n%s", d, sessiontest.Describe(evs))
	}
	if took < livekit.DefaultDPSilence || took > livekit.DefaultDPSilence+5*time.Second {
		t.Fatalf("a silent DP ended the call after %v, want about %v", took, livekit.DefaultDPSilence)
	}
	found := false
	for _, id := range srv.Participants(t, room) {
		found = found || id == "dp-1"
	}
	if !found {
		t.Fatal("the DP left the room: this test proves nothing about silence")
	}
	t.Logf("a silent DP ended the conversation after %v", took)
}

// A kioskd restart (a new process: a new dialect and supervisor on the
// same state directory) joins the stored room again, resumed.
func TestKioskdRestartRejoinsTheStoredRoom(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-kioskd-restart"
	srv.JoinDP(t, room, "dp-1")
	dir := t.TempDir()
	tok := livekittest.Token(t, room, "kiosk-1", false)
	k1 := startKioskIn(t, dir, srv.URL, tok)
	evs := k1.rec.WaitFor(t, ctx, "Connected", connected(1))
	if evs[len(evs)-1].Resumed {
		t.Fatal("the first session claims to be resumed")
	}
	k1.cancel()
	<-k1.done
	k2 := startKioskIn(t, dir, srv.URL, tok)
	evs = k2.rec.WaitFor(t, ctx, "Connected after the restart", connected(1))
	if last := evs[len(evs)-1]; !last.Resumed || last.SessionID != room {
		t.Fatalf("after a restart: Connected in %q resumed %v, want %q resumed\n%s", last.SessionID, last.Resumed, room, sessiontest.Describe(evs))
	}
}

// Chaos: the signalling cut in every state. Before Connected a cut is
// serverConnectionFailed and the next attempt (after backoff) goes on;
// once Connected it is LiveKit's resume. Every time the kiosk ends
// Connected in the same room.
func TestChaosCutInEveryState(t *testing.T) {
	ctx := testCtx(t, 180*time.Second)
	srv := livekittest.Start(t)
	for _, st := range []contract.ConnectionState{contract.SearchingForDigitalPerson, contract.DownloadingAssets, contract.ConnectingToDigitalPerson, contract.Connected} {
		t.Run(st.String(), func(t *testing.T) {
			room := "lobby-chaos-" + st.String()
			proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "ws://"))
			var dp *livekittest.DP
			switch st {
			case contract.DownloadingAssets: // present, nothing published
				dp = srv.JoinDPUnpublished(t, room, "dp-1")
			case contract.ConnectingToDigitalPerson: // published, no RTP
				dp = srv.JoinDPUnpublished(t, room, "dp-1")
				dp.Silence(true)
				dp.Publish(t)
			case contract.Connected:
				dp = srv.JoinDP(t, room, "dp-1")
			}
			k := startKiosk(t, proxy.URL(), livekittest.Token(t, room, "kiosk-1", false))
			k.rec.WaitFor(t, ctx, st.String(), func(evs []contract.Event) bool {
				return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventState && e.State == st }) == 1
			})
			proxy.Cut()
			switch st {
			case contract.SearchingForDigitalPerson:
				k.rec.WaitFor(t, ctx, "the cut", func(evs []contract.Event) bool {
					return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) == 1
				})
				srv.JoinDP(t, room, "dp-1")
			case contract.DownloadingAssets:
				k.rec.WaitFor(t, ctx, "the cut", func(evs []contract.Event) bool {
					return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) == 1
				})
				dp.Publish(t)
			case contract.ConnectingToDigitalPerson:
				k.rec.WaitFor(t, ctx, "the cut", func(evs []contract.Event) bool {
					return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) == 1
				})
				dp.Silence(false)
			case contract.Connected:
				k.log.wait(t, ctx, msgResumed, 1)
			}
			evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
			last := evs[len(evs)-1]
			if last.SessionID != room {
				t.Fatalf("cut in %v: Connected in %q, want %q\n%s", st, last.SessionID, room, sessiontest.Describe(evs))
			}
			for _, e := range evs {
				if e.Kind == contract.EventConnectFailed && e.ErrorName != contract.ServerConnectionFailed {
					t.Fatalf("cut in %v: %v\n%s", st, e.ErrorName, sessiontest.Describe(evs))
				}
			}
			if d := disconnects(evs); len(d) != 0 {
				t.Fatalf("cut in %v: disconnects %v\n%s", st, d, sessiontest.Describe(evs))
			}
			k.sink.waitAudio(t, ctx, 10)
		})
	}
}

// The server's refresh_token (livekit-server sends one right after the
// join, then every 5 minutes) replaces the kiosk's token for its next
// resume and rejoin: with a static token that has expired meanwhile, both
// still get in.
func TestRefreshedTokenOutlivesTheStaticOne(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-refresh"
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "ws://"))
	srv.JoinDP(t, room, "dp-1")
	const left = 4 * time.Second
	expires := time.Now().Add(left)
	k := startKiosk(t, proxy.URL(), livekittest.TokenExpiring(t, room, "kiosk-1", left), func(_ *session.Config, c *livekit.Config) {
		c.ResumeTimeout = 1500 * time.Millisecond
	})
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	select { // the condition under test is the wall clock: the static token expired
	case <-time.After(time.Until(expires) + 500*time.Millisecond):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	proxy.Cut()
	k.log.wait(t, ctx, msgResumed, 1)
	proxy.refuseResume.Store(true)
	proxy.Cut()
	evs := k.rec.WaitFor(t, ctx, "Connected again", connected(2))
	last := evs[len(evs)-1]
	if d := disconnects(evs); len(d) != 1 || d[0] != contract.ReasonControlDisconnected || !last.Resumed || last.SessionID != room {
		t.Fatalf("a rejoin after the static token expired: %v, Connected in %q resumed %v, want %q resumed\n%s", d, last.SessionID, last.Resumed, room, sessiontest.Describe(evs))
	}
	for _, e := range evs {
		if e.Kind == contract.EventConnectFailed {
			t.Fatalf("the rejoin was refused: %v (%v)\n%s", e.ErrorName, e.Cause, sessiontest.Describe(evs))
		}
	}
}

// checkResumedInCall: after a resume, the kiosk is still the participant
// sid (no rejoin), the DP hears it again (its audio past before) and the
// kiosk hears the DP, and the contract showed nothing (no Disconnected,
// Connected once).
func checkResumedInCall(t *testing.T, ctx context.Context, k *kiosk, srv *livekittest.Server, dp *livekittest.DP, room, sid string, before livekittest.Received) {
	t.Helper()
	if got := srv.ParticipantSID(t, room, "kiosk-1"); got != sid {
		t.Fatalf("the kiosk's participant is %q, was %q: a rejoin, not a resume", got, sid)
	}
	if _, ok := dp.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets > before.AudioPackets+25 }); !ok {
		t.Fatal("the DP receives nothing of the kiosk after the resume")
	}
	k.sink.waitAudio(t, ctx, 25)
	evs := k.rec.WaitFor(t, ctx, "a recovered path restart", func(evs []contract.Event) bool { return count(evs, isPathRestart(true)) >= 1 })
	if d := disconnects(evs); len(d) != 0 || count(evs, isConnected) != 1 {
		t.Fatalf("the resume showed on the contract: %v\n%s", d, sessiontest.Describe(evs))
	}
}
