//go:build livekit

package lkdp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/lkdp"
)

// logBuf collects the DP's log, to look for secrets in it.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	srv   *livekittest.Server
	dp    *lkdp.DP
	admin string
	log   *logBuf
}

// start runs a livekit-server and the DP with scenario sc until the test
// ends; the DP's admin API is served at h.admin.
func start(t *testing.T, sc lkdp.Scenario, opts ...func(*lkdp.Config)) *harness {
	t.Helper()
	srv := livekittest.Start(t)
	lb := &logBuf{}
	cfg := lkdp.Config{URL: srv.URL, APIKey: livekittest.APIKey, APISecret: livekittest.APISecret,
		VideoWidth: 160, VideoHeight: 120, VideoFPS: 10, Poll: 50 * time.Millisecond, Scenario: sc}
	for _, f := range opts {
		f(&cfg)
	}
	dp, err := lkdp.New(cfg, slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = dp.Run(ctx); close(done) }()
	adm := httptest.NewServer(dp.AdminHandler())
	t.Cleanup(func() {
		adm.Close()
		cancel()
		<-done
		if strings.Contains(lb.String(), livekittest.APISecret+`"`) || strings.Contains(lb.String(), "eyJ") {
			t.Errorf("the DP's log holds a secret or a token:\n%s", lb.String())
		}
	})
	return &harness{srv: srv, dp: dp, admin: adm.URL, log: lb}
}

// sessions is GET /sessions, as an integrator reads it.
func (h *harness) sessions(t *testing.T) []lkdp.RoomInfo {
	t.Helper()
	resp, err := http.Get(h.admin + "/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []lkdp.RoomInfo
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// wait waits until cond holds of the admin API's rooms.
func (h *harness) wait(t *testing.T, ctx context.Context, what string, cond func([]lkdp.RoomInfo) bool) []lkdp.RoomInfo {
	t.Helper()
	for {
		ch := h.dp.Changed()
		rs := h.sessions(t)
		if cond(rs) {
			return rs
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; rooms %+v", what, rs)
		}
	}
}

func room(rs []lkdp.RoomInfo, name string) (lkdp.RoomInfo, bool) {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].ID == name {
			return rs[i], true
		}
	}
	return lkdp.RoomInfo{}, false
}

// The DP joins a kiosk's room as an AGENT, the kiosk receives its face and
// 880 Hz voice, and the admin API reports per room (id = the room name)
// the kiosk's video frames with their size and its 440 Hz.
func TestDPJoinsTheKiosksRoomAndAnalyses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{})
	kiosk := h.srv.Join(t, "kiosk-room-1", "kiosk-1", false, 440)
	rs := h.wait(t, ctx, "640x480... the kiosk's video and 440 Hz at the DP", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "kiosk-room-1")
		return ok && r.Connected && r.Video.Frames >= 5 && r.Video.Width == 160 && r.Video.Height == 120 &&
			r.Audio.WindowMS >= 500 && r.Audio.DominantHz > 430 && r.Audio.DominantHz < 450
	})
	r, _ := room(rs, "kiosk-room-1")
	if r.Kiosk != "kiosk-1" || r.RoomSID == "" || r.State != lkdp.StateJoined {
		t.Fatalf("room %+v", r)
	}
	if r.Audio.EchoDBFS > -40 {
		t.Errorf("echo %.1f dBFS of a kiosk that plays nothing back", r.Audio.EchoDBFS)
	}
	if got, ok := kiosk.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets > 20 && r.VideoFrames > 3 }); !ok {
		t.Fatalf("the kiosk received %+v from the DP", got)
	}
	if ids := h.srv.Participants(t, "kiosk-room-1"); !slices.Contains(ids, "dpsim-dp") {
		t.Fatalf("participants %v, want the DP", ids)
	}
	if st := h.dp.Stats(); st.RoomsSeen != 1 || st.Joins != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Never join: the room is seen and reported, the DP stays out.
func TestNeverJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{NeverJoin: true})
	h.srv.Join(t, "lonely", "kiosk-1", false, 440)
	h.wait(t, ctx, "the room ignored", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "lonely")
		return ok && r.State == lkdp.StateIgnored
	})
	// Ten more polls: still only the kiosk.
	polls := h.dp.Stats().Polls
	for h.dp.Stats().Polls < polls+10 {
		select {
		case <-h.dp.Changed():
		case <-ctx.Done():
			t.Fatal("the DP stopped polling")
		}
	}
	if ids := h.srv.Participants(t, "lonely"); len(ids) != 1 || ids[0] != "kiosk-1" {
		t.Fatalf("participants %v, want the kiosk alone", ids)
	}
	if st := h.dp.Stats(); st.Joins != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Join late: the DP joins no earlier than the delay after the room appeared.
func TestJoinLate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{JoinDelay: 1500 * time.Millisecond})
	h.srv.Join(t, "late", "kiosk-1", false, 440)
	rs := h.wait(t, ctx, "the DP joined", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "late")
		return ok && r.State == lkdp.StateJoined
	})
	r, _ := room(rs, "late")
	if d := r.Joined.Sub(r.Created); d < 1500*time.Millisecond {
		t.Fatalf("joined %s after the room appeared, want at least 1.5 s", d)
	}
}

// Leave after N: the DP leaves N after the kiosk's audio arrived; a kiosk
// that joins the same room again (a fresh session with a static token)
// gets a DP again; the kiosk leaving makes the DP leave.
func TestLeaveAfterAndRejoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{LeaveAfter: time.Second})
	k1 := h.srv.Join(t, "leaving", "kiosk-1", false, 440)
	rs := h.wait(t, ctx, "the DP left", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "leaving")
		return ok && r.State == lkdp.StateEnded
	})
	r, _ := room(rs, "leaving")
	if r.EndReason != lkdp.EndLeft || r.Audio.Packets == 0 {
		t.Fatalf("room %+v", r)
	}
	if d := time.Since(r.Joined); d < time.Second {
		t.Fatalf("left %s after joining", d)
	}
	k1.Leave()
	h.srv.Join(t, "leaving", "kiosk-1", false, 440)
	h.wait(t, ctx, "a second DP session in the same room", func(rs []lkdp.RoomInfo) bool {
		n := 0
		for _, r := range rs {
			if r.ID == "leaving" && r.Audio.Packets > 0 {
				n++
			}
		}
		return n == 2
	})
}

// Remove the kiosk, delete the room: the server does it (the kiosk is
// gone from the room; the room is gone), and the admin API's POSTs do the
// same on demand.
func TestRemoveKioskAndDeleteRoom(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{RemoveKioskAfter: 500 * time.Millisecond})
	h.srv.Join(t, "kick", "kiosk-1", false, 440)
	h.wait(t, ctx, "the kiosk removed", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "kick")
		return ok && r.EndReason == lkdp.EndKickedKiosk
	})
	if ids := h.srv.Participants(t, "kick"); slices.Contains(ids, "kiosk-1") {
		t.Fatalf("participants %v after the kiosk was removed", ids)
	}

	h.srv.Join(t, "doomed", "kiosk-2", false, 440)
	h.wait(t, ctx, "the DP in the room", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "doomed")
		return ok && r.Connected
	})
	resp, err := http.Post(h.admin+"/delete-room?room=doomed", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"rooms": 1`) {
		t.Fatalf("POST /delete-room: %d %s", resp.StatusCode, b)
	}
	rs := h.wait(t, ctx, "the room deleted", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "doomed")
		return ok && r.State == lkdp.StateEnded
	})
	if r, _ := room(rs, "doomed"); r.EndReason != lkdp.EndDeletedRoom {
		t.Fatalf("room %+v", r)
	}
	if ids := h.srv.Participants(t, "doomed"); len(ids) != 0 {
		t.Fatalf("participants %v of a deleted room", ids)
	}
}

// The token endpoint: a refusal (scenario, then a wrong credential) and a
// 201 whose token joins the room asked for; nothing secret in any answer.
func TestTokenEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{})
	const cred = "kiosk-credential-0123456789"
	ep := httptest.NewServer(h.dp.TokenHandler(lkdp.TokenEndpoint{Credential: cred, Refuse: 1, RefuseStatus: http.StatusForbidden}))
	defer ep.Close()
	ask := func(bearer string) (int, map[string]string, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL,
			strings.NewReader(`{"room_name":"ep-room","participant_identity":"kiosk-ep","participant_name":"kiosk-ep"}`))
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m, string(b)
	}
	if code, _, body := ask(cred); code != http.StatusForbidden || strings.Contains(body, cred) {
		t.Fatalf("first request (refused by the scenario): %d %s", code, body)
	}
	if code, _, body := ask("wrong-credential-000000"); code != http.StatusUnauthorized || strings.Contains(body, "wrong") {
		t.Fatalf("wrong credential: %d %s", code, body)
	}
	code, m, body := ask(cred)
	if code != http.StatusCreated || m["server_url"] != h.srv.URL || !strings.HasPrefix(m["participant_token"], "eyJ") {
		t.Fatalf("token request: %d %s", code, body)
	}
	if st := h.dp.Stats(); st.TokenRequests != 3 || st.TokensIssued != 1 || st.TokensRefused != 1 || st.TokensBad != 1 {
		t.Fatalf("stats %+v", st)
	}
	_ = dpsim.Always
}

// agentState is the DP's lk.agent.state in room as the server has it
// (RoomService ListParticipants), "" when absent.
func agentState(t *testing.T, ctx context.Context, srv *livekittest.Server, room string) string {
	t.Helper()
	res, err := srv.Rooms.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Participants {
		if p.Identity == "dpsim-dp" {
			return p.Attributes[lkdp.AttrAgentState]
		}
	}
	return ""
}

// waitAgentState polls the server (it has no change stream for a test)
// until the DP's lk.agent.state in room is want.
func waitAgentState(t *testing.T, ctx context.Context, srv *livekittest.Server, room, want string) {
	t.Helper()
	for {
		got := agentState(t, ctx, srv, room)
		if got == want {
			return
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("lk.agent.state in %s is %q, want %q", room, got, want)
		}
	}
}

// A DP with an agent name joins only the rooms whose token request
// dispatched it (room_config.agents): not a room dispatched to another
// agent, not one without a dispatch. In the room it joins it publishes
// lk.agent.state as a LiveKit agent does: initializing (its token's),
// listening once it publishes, then round thinking, speaking, listening
// (ConverseEvery) and whatever POST /conversation says.
func TestAgentDispatchAndAgentState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{}, func(c *lkdp.Config) { c.AgentName = "avatar" })
	ep := httptest.NewServer(h.dp.TokenHandler(lkdp.TokenEndpoint{}))
	defer ep.Close()
	for _, c := range []struct{ room, config string }{
		{"disp-yes", `,"room_config":{"agents":[{"agent_name":"other"},{"agent_name":"avatar"}]}`},
		{"disp-other", `,"room_config":{"agents":[{"agent_name":"other"}]}`},
		{"disp-none", ``},
	} {
		resp, err := http.Post(ep.URL, "application/json", strings.NewReader(`{"room_name":"`+c.room+`","participant_identity":"k-`+c.room+`"`+c.config+`}`))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("token for %s: HTTP %d", c.room, resp.StatusCode)
		}
		h.srv.Join(t, c.room, "k-"+c.room, false, 440)
	}
	rs := h.wait(t, ctx, "disp-yes joined and heard, the two others ignored", func(rs []lkdp.RoomInfo) bool {
		y, _ := room(rs, "disp-yes")
		o, _ := room(rs, "disp-other")
		n, _ := room(rs, "disp-none")
		return y.Connected && o.State == lkdp.StateIgnored && n.State == lkdp.StateIgnored
	})
	y, _ := room(rs, "disp-yes")
	o, _ := room(rs, "disp-other")
	if !slices.Equal(y.Dispatch, []string{"other", "avatar"}) || !slices.Equal(o.Dispatch, []string{"other"}) {
		t.Fatalf("dispatch recorded: %v and %v", y.Dispatch, o.Dispatch)
	}
	if st := h.dp.Stats(); st.Joins != 1 {
		t.Fatalf("stats %+v: want one join", st)
	}
	for _, r := range []string{"disp-other", "disp-none"} {
		if ids := h.srv.Participants(t, r); slices.Contains(ids, "dpsim-dp") {
			t.Fatalf("the DP is in %s (%v), which did not dispatch it", r, ids)
		}
	}

	waitAgentState(t, ctx, h.srv, "disp-yes", "listening")
	post := func(q string) int {
		resp, err := http.Post(h.admin+"/conversation?"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, st := range []string{"thinking", "speaking", "idle"} {
		if code := post("state=" + st + "&room=disp-yes"); code != http.StatusOK {
			t.Fatalf("POST /conversation?state=%s: HTTP %d", st, code)
		}
		waitAgentState(t, ctx, h.srv, "disp-yes", st)
		if r, _ := room(h.sessions(t), "disp-yes"); r.ConversationState != st {
			t.Fatalf("GET /sessions conversation_state %q, want %s", r.ConversationState, st)
		}
	}
	if code := post("state=none"); code != http.StatusOK {
		t.Fatalf("POST /conversation?state=none: HTTP %d", code)
	}
	waitAgentState(t, ctx, h.srv, "disp-yes", "")
	if code := post("state=dreaming"); code != http.StatusBadRequest {
		t.Fatalf("POST /conversation?state=dreaming: HTTP %d, want 400", code)
	}
}

// ConverseEvery: from the kiosk's first audio the DP's lk.agent.state
// goes round thinking, speaking, listening. A DP without an agent name
// joins a room without a dispatch (LiveKit's automatic dispatch).
func TestConverseEvery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{ConverseEvery: 300 * time.Millisecond})
	h.srv.Join(t, "converse", "kiosk-c", false, 440)
	for _, st := range []string{"thinking", "speaking", "listening", "thinking"} {
		waitAgentState(t, ctx, h.srv, "converse", st)
	}
}

// Avatar mode (--livekit-avatar) is LiveKit Agents with an avatar plugin:
// the agent (the DP's identity) joins, publishes nothing and holds
// lk.agent.state; its avatar (<identity>-avatar, lk.publish_on_behalf =
// the agent) publishes the face and voice. The agent still hears the
// kiosk (the admin API's analysis), and both leave together.
func TestAvatarPublishesForTheAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := start(t, lkdp.Scenario{}, func(c *lkdp.Config) { c.Avatar = true })
	kiosk := h.srv.Join(t, "avatar-room", "kiosk-1", false, 440)
	h.wait(t, ctx, "the kiosk's 440 Hz at the agent", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "avatar-room")
		return ok && r.Connected && r.Audio.DominantHz > 430 && r.Audio.DominantHz < 450
	})
	if got, ok := kiosk.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets > 20 && r.VideoFrames > 3 }); !ok {
		t.Fatalf("the kiosk received %+v from the avatar", got)
	}
	res, err := h.srv.Rooms.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "avatar-room"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*livekit.ParticipantInfo{}
	for _, p := range res.Participants {
		byID[p.Identity] = p
	}
	agent, avatar := byID["dpsim-dp"], byID["dpsim-dp-avatar"]
	if agent == nil || avatar == nil {
		t.Fatalf("participants %v, want dpsim-dp and dpsim-dp-avatar", slices.Collect(maps.Keys(byID)))
	}
	if agent.Kind != livekit.ParticipantInfo_AGENT || len(agent.Tracks) != 0 || agent.Attributes[lkdp.AttrAgentState] == "" {
		t.Fatalf("the agent: kind %v, %d tracks, attributes %v; want an AGENT publishing nothing with lk.agent.state", agent.Kind, len(agent.Tracks), agent.Attributes)
	}
	if avatar.Kind != livekit.ParticipantInfo_AGENT || len(avatar.Tracks) != 2 || avatar.Attributes[lkdp.AttrPublishOnBehalf] != "dpsim-dp" {
		t.Fatalf("the avatar: kind %v, %d tracks, attributes %v; want an AGENT publishing face and voice for dpsim-dp", avatar.Kind, len(avatar.Tracks), avatar.Attributes)
	}
	if _, err := http.Post(h.admin+"/leave", "", nil); err != nil {
		t.Fatal(err)
	}
	h.wait(t, ctx, "the DP gone", func(rs []lkdp.RoomInfo) bool {
		r, ok := room(rs, "avatar-room")
		return ok && r.State == lkdp.StateEnded
	})
	// The server removes them as their leaves arrive: poll it.
	for ids := h.srv.Participants(t, "avatar-room"); !slices.Equal(ids, []string{"kiosk-1"}); ids = h.srv.Participants(t, "avatar-room") {
		select {
		case <-ctx.Done():
			t.Fatalf("participants %v after the DP left, want the kiosk alone", ids)
		case <-time.After(50 * time.Millisecond): // polling: the server tells a stand-by kiosk nothing more
		}
	}
}
