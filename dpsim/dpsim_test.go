package dpsim_test

import (
	"github.com/kioskd/kioskd/dpwire"

	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
)

// small keeps the DP's video cheap: the machine is shared.
func small(sc dpsim.Scenario) dpsim.Config {
	return dpsim.Config{VideoWidth: 160, VideoHeight: 120, VideoFPS: 10, VideoBitrate: 100_000, Scenario: sc}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func sessionByID(list []dpsim.SessionInfo, id string) (dpsim.SessionInfo, bool) {
	for _, s := range list {
		if s.ID == id {
			return s, true
		}
	}
	return dpsim.SessionInfo{}, false
}

// waitSession waits until the session id satisfies f.
func waitSession(t *testing.T, ctx context.Context, dp *dptest.Server, id string, what string, f func(dpsim.SessionInfo) bool) dpsim.SessionInfo {
	t.Helper()
	list, err := dp.WaitFor(ctx, func(l []dpsim.SessionInfo) bool {
		s, ok := sessionByID(l, id)
		return ok && f(s)
	})
	s, _ := sessionByID(list, id)
	if err != nil {
		t.Fatalf("waiting for session %s: %s: %v; last seen %+v", id, what, err, s)
	}
	return s
}

func TestConnectEndToEnd(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{
		SearchingDelay: 10 * time.Millisecond, AssetsDelay: 10 * time.Millisecond, ConnectingDelay: 10 * time.Millisecond,
	}))
	ctx := ctxFor(t, 20*time.Second)
	k := dialKiosk(t, dp, kioskOpts{ToneHz: 440, Video: true})
	if err := k.connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	ev := k.events()
	// The order of a normal connect.
	want := []string{"session", "progress:SearchingForDigitalPerson", "progress:DownloadingAssets", "progress:ConnectingToDigitalPerson", "answer"}
	if len(ev) < len(want) || !slices.Equal(ev[:len(want)], want) {
		t.Fatalf("messages %v, want them to start with %v", ev, want)
	}
	if ev[len(ev)-1] != "ready" && !slices.Contains(ev, "ready") {
		t.Fatalf("no ready in %v", ev)
	}
	rest := ev[len(want):]
	if !slices.Contains(rest, "candidate") {
		t.Fatalf("no candidate trickled after the answer: %v", ev)
	}
	if k.resumed || k.id() == "" {
		t.Fatalf("session id %q resumed %v", k.id(), k.resumed)
	}

	// What the kiosk sends, as the server accounts for it.
	s := waitSession(t, ctx, dp, k.id(), "media accounted", func(s dpsim.SessionInfo) bool {
		return s.Connected && s.Video.Frames >= 5 && s.Video.Width > 0 && s.Audio.Packets >= 25 && s.Audio.WindowMS >= 500
	})
	if s.State != "Connected" || s.Video.Width != 160 || s.Video.Height != 120 {
		t.Fatalf("video %+v state %s, want 160x120 Connected", s.Video, s.State)
	}
	if s.Video.Codec != "video/VP8" || s.Audio.Codec != "audio/opus" {
		t.Fatalf("codecs %q %q", s.Video.Codec, s.Audio.Codec)
	}
	if s.Audio.DominantHz < 430 || s.Audio.DominantHz > 450 {
		t.Fatalf("dominant_hz %.1f, want 430..450 (the kiosk sends 440 Hz)", s.Audio.DominantHz)
	}
	if s.Audio.EchoDBFS > -40 {
		t.Fatalf("echo_dbfs %.1f: the kiosk sends no 880 Hz, want < -40", s.Audio.EchoDBFS)
	}
	if s.Audio.LevelDBFS < -20 {
		t.Fatalf("level_dbfs %.1f, want about -10", s.Audio.LevelDBFS)
	}

	// The same through the admin API, with its JSON names.
	resp, err := http.Get(dp.AdminURL + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var raw []map[string]any
	if err := json.Unmarshal(body, &raw); err != nil || len(raw) != 1 {
		t.Fatalf("GET /sessions: %v %s", err, body)
	}
	for _, key := range []string{"id", "state", "resumes", "video", "audio", "last_close_reason", "connected"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("GET /sessions: no %q in %s", key, body)
		}
	}
	video := raw[0]["video"].(map[string]any)
	audio := raw[0]["audio"].(map[string]any)
	if video["width"].(float64) != 160 || video["height"].(float64) != 120 || video["frames"].(float64) < 5 {
		t.Errorf("admin video %v", video)
	}
	if audio["packets"].(float64) < 25 || audio["dominant_hz"].(float64) < 430 || audio["dominant_hz"].(float64) > 450 {
		t.Errorf("admin audio %v", audio)
	}
	if _, ok := audio["echo_dbfs"]; !ok {
		t.Errorf("admin audio has no echo_dbfs: %v", audio)
	}

	// What the DP sends, as the kiosk receives it: 160x120 video and an 880 Hz voice.
	for ctx.Err() == nil && (k.dpFrames.Load() < 5 || k.dpW.Load() == 0) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if k.dpW.Load() != 160 || k.dpH.Load() != 120 {
		t.Fatalf("DP video %dx%d (%d frames), want 160x120", k.dpW.Load(), k.dpH.Load(), k.dpFrames.Load())
	}
	for ctx.Err() == nil {
		if _, n := k.dpVoiceHz(); n >= 24000 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if hz, n := k.dpVoiceHz(); hz < 870 || hz > 890 {
		t.Fatalf("DP voice at %.1f Hz over %d samples, want 880", hz, n)
	}

	// A kiosk shutting down closes with normal: the session stays resumable.
	k.closeWith(ctx, dp, "normal")
	s = waitSession(t, ctx, dp, k.id(), "Disconnected", func(s dpsim.SessionInfo) bool { return s.State == "Disconnected" })
	if s.LastCloseReason != "normal" || !s.Resumable || s.Connected {
		t.Fatalf("after close normal: %+v", s)
	}
}

func TestResumeAfterDropThenSessionTimeoutEndsIt(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{
		Drop: 1, DropAfter: 300 * time.Millisecond, // the first Connected session is cut once
		SearchingDelay: 30 * time.Millisecond, AssetsDelay: 30 * time.Millisecond, ConnectingDelay: 30 * time.Millisecond,
	}))
	ctx := ctxFor(t, 30*time.Second)
	k1 := dialKiosk(t, dp, kioskOpts{ToneHz: 440})
	if err := k1.connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	id := k1.id()
	// Abrupt drop: no close message, the socket just ends.
	err := k1.ended(ctx)
	if !errors.Is(err, errPeerGone) {
		t.Fatalf("after the scripted drop: %v, want ErrPeerGone", err)
	}
	if hasPrefixIn(k1.events(), "close:") {
		t.Fatalf("a drop sent a close message: %v", k1.events())
	}
	waitSession(t, ctx, dp, id, "Disconnected and resumable", func(s dpsim.SessionInfo) bool {
		return s.State == "Disconnected" && s.Resumable
	})
	k1.shutdown()

	// Resume: same id, resumed, the same steps, fast. This kiosk sends the
	// DP's own frequency: the echo shows.
	k2 := dialKiosk(t, dp, kioskOpts{Resume: id, ToneHz: 880, Split: true})
	start := time.Now()
	if err := k2.connect(ctx); err != nil {
		t.Fatalf("resume connect: %v", err)
	}
	t.Logf("resumed to Connected in %s", time.Since(start))
	if k2.id() != id || !k2.resumed {
		t.Fatalf("resume gave id %q resumed %v, want %q true", k2.id(), k2.resumed, id)
	}
	want := []string{"session", "progress:SearchingForDigitalPerson", "progress:DownloadingAssets", "progress:ConnectingToDigitalPerson"}
	if ev := k2.events(); !slices.Equal(ev[:4], want) {
		t.Fatalf("resume messages %v", ev)
	}
	s := waitSession(t, ctx, dp, id, "echo measured", func(s dpsim.SessionInfo) bool {
		return s.Connected && s.Audio.DominantHz > 870 && s.Audio.DominantHz < 890 && s.Audio.EchoDBFS > -20
	})
	if s.Resumes != 1 || s.Attempts != 2 || s.Connects != 2 {
		t.Fatalf("after one resume: %+v", s)
	}
	// Not dropped again (Drop: 1): the admin closes with sessionTimeout.
	resp, err := http.Post(dp.AdminURL+"/close?reason=sessionTimeout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"closed": 1`) {
		t.Fatalf("POST /close: %d %s", resp.StatusCode, body)
	}
	if _, err := k2.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "sessionTimeout") {
		t.Fatalf("after POST /close: %v", err)
	}
	s = waitSession(t, ctx, dp, id, "Ended", func(s dpsim.SessionInfo) bool { return s.State == "Ended" })
	if s.EndReason != "sessionTimeout" || s.Resumable || s.SentCloseReason != "sessionTimeout" {
		t.Fatalf("after sessionTimeout: %+v", s)
	}
	k2.shutdown()

	// sessionTimeout ended it: a resume is refused, and the socket closes.
	k3 := dialKiosk(t, dp, kioskOpts{Resume: id})
	if _, err := k3.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "noSessionToResume") {
		t.Fatalf("resume of an ended session: %v", err)
	}
	if err := k3.ended(ctx); !errors.Is(err, errPeerGone) {
		t.Fatalf("socket after noSessionToResume: %v", err)
	}
	if got := dp.Stats().Refused["noSessionToResume"]; got != 1 {
		t.Fatalf("refused noSessionToResume %d", got)
	}
}

func TestResumeWindowExpiresAndTakeover(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{ResumeWindow: 400 * time.Millisecond}))
	ctx := ctxFor(t, 30*time.Second)
	k1 := dialKiosk(t, dp, kioskOpts{})
	if err := k1.connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	id := k1.id()

	// A second kiosk socket resuming the same session while the first is
	// still open takes it over: the old one is told noSessionToResume.
	k2 := dialKiosk(t, dp, kioskOpts{Resume: id})
	if _, err := k2.until(ctx, func(m dpwire.Message) bool {
		p, ok := m.(dpwire.Progress)
		return ok && p.State == "ConnectingToDigitalPerson"
	}); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if !k2.resumed || k2.id() != id {
		t.Fatalf("takeover: id %q resumed %v", k2.id(), k2.resumed)
	}
	if _, err := k1.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "noSessionToResume") {
		t.Fatalf("old socket after takeover: %v", err)
	}
	if err := k1.ended(ctx); !errors.Is(err, errPeerGone) {
		t.Fatalf("old socket after its close: %v", err)
	}

	// Dropped by the admin before it is Connected again: still resumable
	// (it has been Connected), for the resume window only.
	resp, err := http.Post(dp.AdminURL+"/drop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := k2.ended(ctx); !errors.Is(err, errPeerGone) {
		t.Fatalf("after POST /drop: %v", err)
	}
	s := waitSession(t, ctx, dp, id, "expired", func(s dpsim.SessionInfo) bool { return s.State == "Ended" })
	if s.EndReason != dpsim.EndExpired {
		t.Fatalf("end reason %q, want %q", s.EndReason, dpsim.EndExpired)
	}
	k3 := dialKiosk(t, dp, kioskOpts{Resume: id})
	if _, err := k3.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "noSessionToResume") {
		t.Fatalf("resume after the window: %v", err)
	}
	// An id the server never issued is refused the same way.
	k4 := dialKiosk(t, dp, kioskOpts{Resume: "dp-never-issued"})
	if _, err := k4.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "noSessionToResume") {
		t.Fatalf("resume of an unknown id: %v", err)
	}
}

// progressUntilConnecting reads until progress ConnectingToDigitalPerson.
func progressUntilConnecting(ctx context.Context, k *kiosk) error {
	_, err := k.until(ctx, func(m dpwire.Message) bool {
		p, ok := m.(dpwire.Progress)
		return ok && p.State == "ConnectingToDigitalPerson"
	})
	return err
}

func TestNoSceneFirstN(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{NoScene: 2}))
	ctx := ctxFor(t, 10*time.Second)
	for i := 1; i <= 2; i++ {
		k := dialKiosk(t, dp, kioskOpts{})
		err := progressUntilConnecting(ctx, k)
		if !isClose(err, "noScene") {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if ev := k.events(); !slices.Equal(ev, []string{"session", "progress:SearchingForDigitalPerson", "close:noScene"}) {
			t.Fatalf("attempt %d: %v", i, ev)
		}
		if err := k.ended(ctx); !errors.Is(err, errPeerGone) {
			t.Fatalf("attempt %d: socket after close: %v", i, err)
		}
		waitSession(t, ctx, dp, k.id(), "ended by noScene", func(s dpsim.SessionInfo) bool {
			return s.State == "Ended" && s.EndReason == "noScene" && s.SentCloseReason == "noScene"
		})
	}
	k := dialKiosk(t, dp, kioskOpts{})
	if err := progressUntilConnecting(ctx, k); err != nil {
		t.Fatalf("attempt 3: %v", err)
	}
	if st := dp.Stats(); st.Refused["noScene"] != 2 || st.Hellos != 3 || st.Fresh != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueuePositionCountsDown(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{QueuePosition: 3, QueueDelay: 10 * time.Millisecond}))
	ctx := ctxFor(t, 10*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	if err := progressUntilConnecting(ctx, k); err != nil {
		t.Fatal(err)
	}
	want := []string{"session", "progress:SearchingForDigitalPerson:3", "progress:SearchingForDigitalPerson:2",
		"progress:SearchingForDigitalPerson:1", "progress:DownloadingAssets", "progress:ConnectingToDigitalPerson"}
	if ev := k.events(); !slices.Equal(ev, want) {
		t.Fatalf("got %v, want %v", ev, want)
	}
}

func TestControlFailedFirstN(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{ControlFailed: 1}))
	ctx := ctxFor(t, 10*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	if err := progressUntilConnecting(ctx, k); !isClose(err, "controlFailed") {
		t.Fatalf("first: %v", err)
	}
	if ev := k.events(); !slices.Equal(ev, []string{"session", "progress:SearchingForDigitalPerson", "progress:DownloadingAssets", "close:controlFailed"}) {
		t.Fatalf("first: %v", ev)
	}
	k2 := dialKiosk(t, dp, kioskOpts{})
	if err := progressUntilConnecting(ctx, k2); err != nil {
		t.Fatalf("second: %v", err)
	}
}

func TestStallThenServerSessionTimeout(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{Heartbeat: dpwire.MinHeartbeat, Scenario: dpsim.Scenario{
		Stall: dpsim.Always, StallAt: dpsim.StepAssets, ConnectTimeout: 3500 * time.Millisecond,
	}})
	ctx := ctxFor(t, 15*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	// Nothing after DownloadingAssets (heartbeats go on, so the socket
	// stays up past 3 intervals) until the server's own connect deadline.
	err := progressUntilConnecting(ctx, k)
	if !isClose(err, "sessionTimeout") {
		t.Fatalf("%v", err)
	}
	if ev := k.events(); !slices.Equal(ev, []string{"session", "progress:SearchingForDigitalPerson", "progress:DownloadingAssets", "close:sessionTimeout"}) {
		t.Fatalf("got %v", ev)
	}
}

func TestSilenceIsAMissedHeartbeat(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{Heartbeat: dpwire.MinHeartbeat, Scenario: dpsim.Scenario{
		Silence: dpsim.Always, SilenceAt: dpsim.StepSearching, ConnectTimeout: -1,
	}})
	ctx := ctxFor(t, 10*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	if err := k.ended(ctx); !errors.Is(err, errPeerDead) {
		t.Fatalf("silent server: %v, want ErrPeerDead", err)
	}
}

func TestICEFailure(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{ICEFailure: dpsim.Always, MediaTimeout: 500 * time.Millisecond}))
	ctx := ctxFor(t, 15*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	err := k.connect(ctx)
	if !isClose(err, "mediaStreamFailed") {
		t.Fatalf("connect with broken ICE: %v", err)
	}
	ev := k.events()
	i := slices.Index(ev, "answer")
	if i < 0 || len(ev) < i+3 || ev[i+1] != "candidate" || ev[i+2] != "candidate:end" {
		t.Fatalf("want answer, one candidate, end: %v", ev)
	}
	if st := dp.Stats(); st.Refused["mediaStreamFailed"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	waitSession(t, ctx, dp, k.id(), "ended", func(s dpsim.SessionInfo) bool {
		return s.State == "Ended" && s.EndReason == "mediaStreamFailed"
	})
}

func TestIdleTimeoutEndsAConnectedSession(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{IdleTimeout: 300 * time.Millisecond}))
	ctx := ctxFor(t, 15*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	if err := k.connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "sessionTimeout") {
		t.Fatalf("idle: %v", err)
	}
	s := waitSession(t, ctx, dp, k.id(), "ended", func(s dpsim.SessionInfo) bool { return s.State == "Ended" })
	if s.EndReason != "sessionTimeout" || s.Resumable {
		t.Fatalf("%+v", s)
	}
}

func TestHostileModes(t *testing.T) {
	connecting := []string{"session", "progress:SearchingForDigitalPerson", "progress:DownloadingAssets", "progress:ConnectingToDigitalPerson"}
	for _, c := range []struct {
		mode    dpsim.HostileMode
		want    []string
		wantErr error
		ignored bool
	}{
		{mode: dpsim.HostileUnknownType, want: connecting, ignored: true},
		{mode: dpsim.HostileMalformed, wantErr: dpwire.ErrMalformed},
		{mode: dpsim.HostileOversized, wantErr: dpwire.ErrTooLarge},
		{mode: dpsim.HostileBackwards, want: append(slices.Clone(connecting), "progress:DownloadingAssets")},
		{mode: dpsim.HostileDuplicate, want: []string{"session",
			"progress:SearchingForDigitalPerson", "progress:SearchingForDigitalPerson",
			"progress:DownloadingAssets", "progress:DownloadingAssets",
			"progress:ConnectingToDigitalPerson", "progress:ConnectingToDigitalPerson"}},
		{mode: dpsim.HostileAnswerBeforeOffer, want: []string{"session", "progress:SearchingForDigitalPerson",
			"progress:DownloadingAssets", "answer", "progress:ConnectingToDigitalPerson"}},
		{mode: dpsim.HostileReadyEarly, want: append(slices.Clone(connecting), "ready")},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			dp := dptest.NewServer(t, small(dpsim.Scenario{Hostile: dpsim.Always, HostileModes: []dpsim.HostileMode{c.mode},
				ConnectingDelay: time.Hour}))
			ctx := ctxFor(t, 10*time.Second)
			k := dialKiosk(t, dp, kioskOpts{})
			if c.wantErr != nil {
				if err := k.ended(ctx); !errors.Is(err, c.wantErr) {
					t.Fatalf("got %v, want %v", err, c.wantErr)
				}
				return
			}
			for len(k.events()) < len(c.want) {
				if _, err := k.next(ctx); err != nil {
					t.Fatalf("%v after %v", err, k.events())
				}
			}
			if ev := k.events(); !slices.Equal(ev, c.want) {
				t.Fatalf("got %v, want %v", ev, c.want)
			}
			if c.ignored && k.ignored.Load() == 0 {
				t.Fatal("no frame of unknown type reached the client")
			}
		})
	}
}

func TestUpgradeRefusals(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	ctx := ctxFor(t, 10*time.Second)
	// A wrong or missing token is refused with 401, before the upgrade.
	for _, token := range []string{"wrong", ""} {
		dialer := websocket.Dialer{Subprotocols: []string{dpwire.Subprotocol}}
		_, resp, err := dialer.DialContext(ctx, dp.URL, bearer(token))
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("token %q: %v %v", token, err, resp)
		}
		resp.Body.Close()
	}
	// A client that does not offer kioskd.dp.v1 gets 426 naming it.
	dialer := websocket.Dialer{Subprotocols: []string{"kioskd.dp.v0"}}
	_, resp, err := dialer.DialContext(ctx, dp.URL, bearer(dp.Token))
	if err == nil || resp == nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("old subprotocol: %v %v", err, resp)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != dpwire.Subprotocol {
		t.Fatalf("426 names %q", got)
	}
	resp.Body.Close()
	// Another path is not the control endpoint.
	r2, err := http.Get(strings.Replace(strings.Replace(dp.URL, "ws://", "http://", 1), dpsim.ControlPath, "/v2/session", 1))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotFound {
		t.Fatalf("other path: %d", r2.StatusCode)
	}
	if st := dp.Stats(); st.Unauthorized != 2 || st.WrongVersion != 1 || st.Hellos != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// rawClient speaks to the server with a bare gorilla connection.
func rawClient(t *testing.T, dp *dptest.Server) *websocket.Conn {
	t.Helper()
	dialer := websocket.Dialer{Subprotocols: []string{dpwire.Subprotocol}}
	ws, resp, err := dialer.Dial(dp.URL, bearer(dp.Token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	return ws
}

func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}

func TestServerRefusesBadFrames(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	t.Run("malformed", func(t *testing.T) {
		ws := rawClient(t, dp)
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello",`))
		if code := closeCode(t, ws); code != websocket.CloseProtocolError {
			t.Fatalf("close code %d, want 1002", code)
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		ws := rawClient(t, dp)
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","client":{},"extra":1}`))
		if code := closeCode(t, ws); code != websocket.CloseProtocolError {
			t.Fatalf("close code %d, want 1002", code)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		ws := rawClient(t, dp)
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","client":{"name":"`+strings.Repeat("x", dpwire.MaxFrameSize)+`"}}`))
		if code := closeCode(t, ws); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009", code)
		}
	})
	t.Run("unknown type ignored", func(t *testing.T) {
		ws := rawClient(t, dp)
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"x-future","anything":[1,2]}`))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","client":{"name":"raw","version":"0","video":false,"audio":false}}`))
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, frame, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		m, err := dpwire.Decode(frame)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := m.(dpwire.Session); !ok || s.SessionID == "" || s.HeartbeatMS != 5000 {
			t.Fatalf("first frame %s", frame)
		}
	})
}

func TestAdminAPI(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	get := func(path string) (int, string) {
		resp, err := http.Get(dp.AdminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get("/sessions"); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("sessions %d %q", code, body)
	}
	if code, body := get("/stats"); code != 200 || !strings.Contains(body, `"hellos": 0`) {
		t.Fatalf("stats %d %q", code, body)
	}
	if code, _ := get("/close?reason=normal"); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /close: %d", code)
	}
	for _, bad := range []string{"", "bogus", "noUserMedia", "Normal"} {
		resp, err := http.Post(dp.AdminURL+"/close?reason="+bad, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST /close?reason=%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	resp, err := http.Post(dp.AdminURL+"/close?reason=conversationEnded", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /close with no session: %d", resp.StatusCode)
	}

	// The admin API refuses to listen beyond loopback.
	if _, err := dp.DP.ListenAdmin("0.0.0.0:0"); err == nil {
		t.Fatal("admin on 0.0.0.0 accepted")
	}
	for addr, ok := range map[string]bool{"127.0.0.1:9000": true, "[::1]:9000": true, "localhost:9000": true,
		":9000": false, "0.0.0.0:9000": false, "192.0.2.10:9000": false, "example.com:9000": false, "nonsense": false} {
		if err := dpsim.CheckLoopbackAddr(addr); (err == nil) != ok {
			t.Errorf("CheckLoopbackAddr(%q) = %v", addr, err)
		}
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	// Warm up what pion and mediadevices start once per process.
	func() {
		dp := dptest.NewServer(t, small(dpsim.Scenario{}))
		k := dialKiosk(t, dp, kioskOpts{ToneHz: 440, Video: true})
		if err := k.connect(ctxFor(t, 15*time.Second)); err != nil {
			t.Fatal(err)
		}
		k.shutdown()
		dp.Close()
	}()
	waitGoroutines(t, -1)
	base := runtime.NumGoroutine()

	srv, err := dpsim.New(small(dpsim.Scenario{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ListenAdmin("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// dptest is not used here so that the server can be closed before
	// the kiosk: wrap it for the kiosk helper.
	dp := &dptest.Server{DP: srv, URL: "ws://" + addr.String() + dpsim.ControlPath}
	ctx := ctxFor(t, 15*time.Second)
	k := dialKiosk(t, dp, kioskOpts{ToneHz: 440, Video: true})
	if err := k.connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitSession(t, ctx, dp, k.id(), "media flowing", func(s dpsim.SessionInfo) bool { return s.Video.Frames > 2 && s.Audio.Packets > 10 })
	idle := dialKiosk(t, dp, kioskOpts{}) // a second one, not yet Connected
	if err := progressUntilConnecting(ctx, idle); err != nil {
		t.Fatal(err)
	}

	srv.Close()
	if _, err := k.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "controlDisconnected") {
		t.Fatalf("Connected kiosk at server shutdown: %v", err)
	}
	if _, err := idle.until(ctx, func(dpwire.Message) bool { return false }); !isClose(err, "serverConnectionFailed") {
		t.Fatalf("connecting kiosk at server shutdown: %v", err)
	}
	for _, s := range srv.Sessions() {
		if s.State != "Ended" || s.EndReason != dpsim.EndShutdown {
			t.Errorf("after Close: %+v", s)
		}
	}
	k.shutdown()
	idle.shutdown()
	waitGoroutines(t, base)
	srv.Close() // twice is fine
}

// waitGoroutines waits, for a bounded time, until at most want goroutines
// run (want < 0: until the count stops falling), and fails with a dump.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last, stable := -1, 0
	for time.Now().Before(deadline) {
		n := runtime.NumGoroutine()
		if want >= 0 && n <= want {
			return
		}
		if want < 0 {
			if n == last {
				stable++
				if stable >= 20 {
					return
				}
			} else {
				stable = 0
			}
			last = n
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
	if want < 0 {
		return
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), want, buf)
}

func TestConfigValidation(t *testing.T) {
	bad := []dpsim.Config{
		{VideoWidth: 15, VideoHeight: 240},
		{VideoWidth: 321, VideoHeight: 240},
		{VoiceHz: 5},
		{VideoFPS: 100},
		{Heartbeat: time.Millisecond},
		{Heartbeat: 999 * time.Millisecond},
		{Heartbeat: time.Hour},
		{Heartbeat: 1500*time.Millisecond + 1},
		{ICEPortMin: 5000},
		{Scenario: dpsim.Scenario{StallAt: dpsim.StepConnected, Stall: 1}},
		{Scenario: dpsim.Scenario{SilenceAt: "nowhere"}},
		{Scenario: dpsim.Scenario{QueuePosition: -1}},
		{Scenario: dpsim.Scenario{QueuePosition: dpwire.MaxQueuePosition + 1}},
		{Scenario: dpsim.Scenario{DropAfter: -time.Second}},
		{Scenario: dpsim.Scenario{NoScene: -5}},
		{Scenario: dpsim.Scenario{HostileModes: []dpsim.HostileMode{"nice"}}},
	}
	for i, cfg := range bad {
		if s, err := dpsim.New(cfg, nil); err == nil {
			s.Close()
			t.Errorf("%d: %+v accepted", i, cfg)
		}
	}
	s, err := dpsim.New(dpsim.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.Config()
	if c.VoiceHz != 880 || c.VideoWidth != 320 || c.VideoHeight != 240 || c.VideoFPS != 15 ||
		c.Heartbeat != dpwire.DefaultHeartbeat || c.Scenario.ResumeWindow != 2*time.Minute {
		t.Fatalf("defaults %+v", c)
	}

	var n dpsim.Count
	for in, want := range map[string]dpsim.Count{"always": dpsim.Always, "3": 3, "never": 0, "0": 0} {
		if err := n.Set(in); err != nil || n != want {
			t.Errorf("Count.Set(%q) = %v, %v", in, n, err)
		}
	}
	if err := n.Set("-2"); err == nil {
		t.Error("Count -2 accepted")
	}
	var st dpsim.Step
	if err := st.Set("assets"); err != nil || st != dpsim.StepAssets {
		t.Errorf("Step.Set(assets) = %v, %v", st, err)
	}
	if err := st.Set("ConnectingToDigitalPerson"); err != nil || st != dpsim.StepConnecting {
		t.Errorf("Step.Set(ConnectingToDigitalPerson) = %v, %v", st, err)
	}
	if _, err := dpsim.ParseHostileModes("malformed, oversized"); err != nil {
		t.Error(err)
	}
	if _, err := dpsim.ParseHostileModes("malformed,rude"); err == nil {
		t.Error("unknown hostile mode accepted")
	}
}

func TestRegisterFlags(t *testing.T) {
	cfg := dpsim.Config{Scenario: dpsim.DefaultScenario()}
	fs := flag.NewFlagSet("dpsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"--video-size", "160x120", "--voice-hz", "700", "--no-scene", "2", "--control-failed", "always",
		"--stall", "1", "--stall-at", "assets", "--drop", "always", "--drop-after", "2s", "--silence-at", "searching",
		"--hostile", "1", "--hostile-modes", "malformed,ready-early", "--ice-ports", "50000-50100",
		"--ice-public-ip", "198.51.100.7", "--queue-position", "4", "--resume-window", "-1s"})
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Scenario
	if cfg.VideoWidth != 160 || cfg.VideoHeight != 120 || cfg.VoiceHz != 700 || sc.NoScene != 2 ||
		sc.ControlFailed != dpsim.Always || sc.Stall != 1 || sc.StallAt != dpsim.StepAssets || sc.Drop != dpsim.Always ||
		sc.DropAfter != 2*time.Second || sc.SilenceAt != dpsim.StepSearching || sc.Hostile != 1 ||
		!slices.Equal(sc.HostileModes, []dpsim.HostileMode{dpsim.HostileMalformed, dpsim.HostileReadyEarly}) ||
		cfg.ICEPortMin != 50000 || cfg.ICEPortMax != 50100 || !slices.Equal(cfg.ICEPublicIPs, []string{"198.51.100.7"}) ||
		sc.QueuePosition != 4 || sc.ResumeWindow != -time.Second || sc.SearchingDelay != 20*time.Millisecond {
		t.Fatalf("parsed %+v", cfg)
	}
	for _, bad := range [][]string{{"--video-size", "big"}, {"--no-scene", "lots"}, {"--stall-at", "nowhere"},
		{"--hostile-modes", "rude"}, {"--ice-ports", "5-1"}} {
		fs := flag.NewFlagSet("dpsim", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c := dpsim.Config{}
		c.RegisterFlags(fs)
		if err := fs.Parse(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	dialer := websocket.Dialer{Subprotocols: []string{dpwire.Subprotocol}}
	h := http.Header{}
	h.Set("Authorization", "bearer "+dp.Token)
	ws, resp, err := dialer.Dial(dp.URL, h)
	if err != nil {
		t.Fatalf("lower-case scheme: %v", err)
	}
	resp.Body.Close()
	ws.Close()
	h.Set("Authorization", "Basic "+dp.Token)
	if _, resp, err := dialer.Dial(dp.URL, h); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("Basic scheme: %v", err)
	}
}

func TestDropAndCloseReachSocketsBeforeHello(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	ws := rawClient(t, dp)
	ctx := ctxFor(t, 10*time.Second)
	// The server registers the socket as soon as it is upgraded.
	if _, err := dp.WaitFor(ctx, func([]dpsim.SessionInfo) bool { return dp.Stats().Live == 1 }); err != nil {
		t.Fatal(err)
	}
	if n := dp.Drop(); n != 1 {
		t.Fatalf("Drop() = %d, want 1", n)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if err == nil || (errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure) {
		t.Fatalf("after Drop: %v, want the connection cut without a close frame", err)
	}

	ws2 := rawClient(t, dp)
	if _, err := dp.WaitFor(ctx, func([]dpsim.SessionInfo) bool { return dp.Stats().Live == 1 }); err != nil {
		t.Fatal(err)
	}
	if n := dp.CloseAll("serverConnectionFailed"); n != 1 {
		t.Fatalf("CloseAll = %d, want 1", n)
	}
	_ = ws2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, frame, err := ws2.ReadMessage()
	if err != nil || !strings.Contains(string(frame), `"reason":"serverConnectionFailed"`) {
		t.Fatalf("after CloseAll: %s %v", frame, err)
	}
	if code := closeCode(t, ws2); code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d", code)
	}
}

// TestClientCandidatesPastTheLimitAreIgnored: a client may send at most
// dpwire.MaxCandidates candidates on a connection (docs/PROTOCOL.md
// section 3.1); dpsim ignores the rest, counts them and goes on.
func TestClientCandidatesPastTheLimitAreIgnored(t *testing.T) {
	dp := dptest.NewServer(t, small(dpsim.Scenario{}))
	ctx := ctxFor(t, 15*time.Second)
	k := dialKiosk(t, dp, kioskOpts{})
	if err := k.connect(ctx); err != nil {
		t.Fatal(err)
	}
	const extra = 36
	mid, idx := "0", uint16(0)
	for i := 0; i < dpwire.MaxCandidates+extra; i++ {
		cand := fmt.Sprintf("candidate:%d 1 udp 2130706431 203.0.113.7 %d typ host", 100+i, 20000+i)
		if err := k.conn.Send(dpwire.Candidate{Candidate: cand, SDPMid: &mid, SDPMLineIndex: &idx}); err != nil {
			t.Fatal(err)
		}
	}
	// The server reads in order: once it has the close, it has every candidate.
	k.closeWith(ctx, dp, "normal")
	// The kiosk's own candidates count too (a few on loopback).
	if n := dp.Stats().CandidatesIgnored; n < extra || n > extra+dpwire.MaxCandidates {
		t.Fatalf("%d candidates ignored, want %d and the kiosk's own", n, extra)
	}
}
