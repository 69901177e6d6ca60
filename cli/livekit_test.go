//go:build livekit

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/dpsim/lkdp"
)

// The daemon-level tests of the livekit dialect (docs/LIVEKIT.md): the real
// kioskd process with server.dialect: livekit, a real livekit-server
// (livekittest.Start) and dpsim's LiveKit mode as its own process (built
// once per test binary), asked through its admin API as an integrator would.

var dpsimBuild struct {
	once sync.Once
	path string
	err  error
}

// dpsimBinary builds cmd/dpsim once per test binary.
func dpsimBinary(t *testing.T) string {
	t.Helper()
	dpsimBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "kioskd-cli-dpsim-")
		if err != nil {
			dpsimBuild.err = err
			return
		}
		dpsimBuild.path = filepath.Join(dir, "dpsim")
		if out, err := exec.Command("go", "build", "-o", dpsimBuild.path, "../cmd/dpsim").CombinedOutput(); err != nil {
			dpsimBuild.err = fmt.Errorf("go build ../cmd/dpsim: %v: %s", err, out)
		}
	})
	if dpsimBuild.err != nil {
		t.Fatal(dpsimBuild.err)
	}
	return dpsimBuild.path
}

// lkDPProc is dpsim's LiveKit mode running against a livekit-server.
type lkDPProc struct {
	*proc
	admin, tokenEndpoint string
}

const lkCredential = "cli-test-credential-0123456789"

// startLiveKitDP runs `dpsim --livekit-url …` with its admin API and a
// token endpoint (credential lkCredential) on free loopback ports, and
// args (scenario flags).
func startLiveKitDP(t *testing.T, ctx context.Context, srv *livekittest.Server, args ...string) *lkDPProc {
	t.Helper()
	dir := t.TempDir()
	secret, cred := filepath.Join(dir, "secret"), filepath.Join(dir, "credential")
	if err := os.WriteFile(secret, []byte(livekittest.APISecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cred, []byte(lkCredential+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dpsimBinary(t), append([]string{"--livekit-url", srv.URL, "--livekit-key", livekittest.APIKey,
		"--livekit-secret-file", secret, "--admin", "127.0.0.1:0", "--token-endpoint", "127.0.0.1:0",
		"--token-endpoint-credential-file", cred, "--livekit-poll", "50ms", "--video-size", "160x120", "--video-fps", "10",
		"--log-format", "json"}, args...)...)
	p := &lkDPProc{proc: startProc(t, cmd)}
	recs := p.waitRecords(t, ctx, "dpsim ready", hasMsg("dpsim ready (LiveKit mode)"))
	for _, r := range recs {
		if r["msg"] == "dpsim ready (LiveKit mode)" {
			p.admin, _ = r["admin"].(string)
			p.tokenEndpoint, _ = r["token_endpoint"].(string)
		}
	}
	if p.admin == "" || p.tokenEndpoint == "" {
		t.Fatalf("dpsim ready without admin or token endpoint: %v", recs)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.lines {
			if strings.Contains(l, lkCredential) || strings.Contains(l, "eyJ") || strings.Contains(l, `"`+livekittest.APISecret+`"`) {
				t.Errorf("dpsim logged a secret: %s", l)
			}
		}
	})
	return p
}

// rooms is the DP's GET /sessions.
func (p *lkDPProc) rooms(t *testing.T, ctx context.Context) []lkdp.RoomInfo {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.admin+"/sessions", nil)
	resp, err := http.DefaultClient.Do(req)
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

// stats is the DP's GET /stats.
func (p *lkDPProc) stats(t *testing.T, ctx context.Context) lkdp.Stats {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.admin+"/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out lkdp.Stats
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitRoom polls the admin API (it has no change stream) until cond holds
// of the room named id.
func (p *lkDPProc) waitRoom(t *testing.T, ctx context.Context, id string, cond func(lkdp.RoomInfo) bool) lkdp.RoomInfo {
	t.Helper()
	var last lkdp.RoomInfo
	for {
		for _, r := range p.rooms(t, ctx) {
			if r.ID == id {
				last = r
				if cond(r) {
					return r
				}
			}
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("room %s at the DP: %+v", id, last)
		}
	}
}

// liveKitLab writes a kioskd config for the livekit dialect: a static
// token for room (joined as kiosk identity "kiosk-cli"), or with room ""
// dpsim's token endpoint. step is session.step_timeout.
func liveKitLab(t *testing.T, srv *livekittest.Server, dp *lkDPProc, room string, step time.Duration) labFiles {
	t.Helper()
	server := "  dialect: livekit\n  livekit: {identity: kiosk-cli}\n"
	tok := lkCredential
	if room != "" {
		tok = livekittest.Token(t, room, "kiosk-cli", false)
	} else {
		server += "  token_endpoint: " + dp.tokenEndpoint + "/token\n"
	}
	lab := writeLabFor(t, srv.URL, tok, server, "")
	b, err := os.ReadFile(lab.config)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.Replace(string(b), "  reconnect:", fmt.Sprintf("  step_timeout: %s\n  reconnect:", step), 1)
	if err := os.WriteFile(lab.config, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	return lab
}

// where counts the records for which cond holds.
func where(recs []map[string]any, cond func(map[string]any) bool) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if cond(r) {
			out = append(out, r)
		}
	}
	return out
}

// failed is a "connect failed" record with error name name.
func failed(name string) func(map[string]any) bool {
	return func(r map[string]any) bool {
		m, _ := r["msg"].(string)
		return strings.HasPrefix(m, "connect failed") && r["error_name"] == name
	}
}

// ended is a "disconnected" record with reason.
func ended(reason string) func(map[string]any) bool {
	return func(r map[string]any) bool { return r["disconnect_reason"] == reason }
}

func atLeast(n int, cond func(map[string]any) bool) func([]map[string]any) bool {
	return func(recs []map[string]any) bool { return len(where(recs, cond)) >= n }
}

// noSecret: none of secrets is in kioskd's log.
func noSecret(t *testing.T, p *proc, secrets ...string) {
	t.Helper()
	p.mu.Lock()
	all := strings.Join(p.lines, "\n")
	p.mu.Unlock()
	for _, s := range secrets {
		if s != "" && strings.Contains(all, s) {
			t.Fatalf("kioskd's log holds a secret (%d characters)", len(s))
		}
	}
}

// TestLiveKitEndToEndThroughALSA is issue 14's "done when" at the daemon
// level: `kioskd run` with server.dialect: livekit, a real livekit-server,
// dpsim's LiveKit mode as the DP; the steps 25, 50, 75, 100 in order,
// SESSION_ID = the room (its SID logged); at the DP 640x480 frames and
// 440 Hz from the kiosk's ALSA microphone; at the kiosk's ALSA speaker the
// DP's 880 Hz. Once with a static token, once through dpsim's token
// endpoint (a kiosk-<hostname>-<random> room); neither the token nor the
// credential logged.
func TestLiveKitEndToEndThroughALSA(t *testing.T) {
	for _, c := range []struct{ name, room string }{{"static token", "lk-e2e"}, {"token endpoint", ""}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			srv := livekittest.Start(t)
			dp := startLiveKitDP(t, ctx, srv)
			lab := liveKitLab(t, srv, dp, c.room, 15*time.Second)
			asound, speaker := alsaLab(t, lab)
			p := startKioskd(t, []string{"ALSA_CONFIG_PATH=" + asound}, "run", "--config", lab.config, "--log-format", "json")
			recs := p.waitRecords(t, ctx, "Connected", nConnected(1))
			checkSteps(t, recs)
			id := connectedIDs(recs)[0]
			host, _ := os.Hostname()
			switch {
			case c.room != "" && id != c.room:
				t.Fatalf("session id %q, want the room %q", id, c.room)
			case c.room == "" && (!regexp.MustCompile(`^kiosk-.+-[0-9a-f]{8}$`).MatchString(id) || !strings.HasPrefix(id, "kiosk-"+host[:min(4, len(host))])):
				t.Fatalf("session id %q, want kiosk-<hostname>-<random>", id)
			}
			if len(where(recs, func(r map[string]any) bool { s, _ := r["room_sid"].(string); return strings.HasPrefix(s, "RM_") })) == 0 {
				t.Fatal("no log line with the room's SID (room_sid)")
			}
			got := dp.waitRoom(t, ctx, id, func(r lkdp.RoomInfo) bool {
				return r.Video.Frames >= 10 && r.Video.Width == 640 && r.Video.Height == 480 &&
					r.Audio.WindowMS >= 500 && r.Audio.DominantHz >= 430 && r.Audio.DominantHz <= 450
			})
			t.Logf("the DP: video %+v audio %+v", got.Video, got.Audio)
			if got.Kiosk != "kiosk-cli" || !got.Connected {
				t.Fatalf("the DP's room: %+v", got)
			}
			if st := dp.stats(t, ctx); c.room == "" && (st.TokensIssued < 1 || st.TokensRefused != 0 || st.TokensBad != 0) {
				t.Fatalf("token endpoint stats %+v", st)
			}
			checkSpeaker(t, ctx, p, speaker, 880)
			b, _ := os.ReadFile(filepath.Join(lab.dir, "token"))
			noSecret(t, p, strings.TrimSpace(string(b)), "eyJ")
		})
	}
}

// The scenario rows: one livekit-server, one DP (with the row's flags)
// and one kioskd each.
func TestLiveKitScenarios(t *testing.T) {
	for _, c := range []struct {
		name   string
		dpArgs []string
		room   string // "" = the token endpoint
		step   time.Duration
		check  func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, start time.Time)
	}{
		{"never join: sessionTimeout with backoff", []string{"--livekit-never-join"}, "lk-never", 2 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				recs := p.waitRecords(t, ctx, "two sessionTimeouts", atLeast(2, failed("sessionTimeout")))
				retries := where(recs, func(r map[string]any) bool { _, ok := r["retry_in"]; return ok && r["error_name"] == "sessionTimeout" })
				if len(retries) == 0 || len(connectedIDs(recs)) != 0 {
					t.Fatalf("retries %v, connected %v", retries, connectedIDs(recs))
				}
				dp.waitRoom(t, ctx, "lk-never", func(r lkdp.RoomInfo) bool { return r.State == lkdp.StateIgnored })
				if st := dp.stats(t, ctx); st.Joins != 0 {
					t.Fatalf("the DP joined: %+v", st)
				}
			}},
		{"join late within the step deadline: Connected", []string{"--livekit-join-delay", "2s"}, "lk-late", 10 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				recs := p.waitRecords(t, ctx, "Connected", nConnected(1))
				checkSteps(t, recs)
				if n := len(where(recs, func(r map[string]any) bool { _, ok := r["error_name"]; return ok })); n != 0 {
					t.Fatalf("%d error lines before Connected", n)
				}
				r := dp.waitRoom(t, ctx, "lk-late", func(r lkdp.RoomInfo) bool { return r.Connected })
				if d := r.Joined.Sub(r.Created); d < 2*time.Second {
					t.Fatalf("the DP joined %s after the room appeared", d)
				}
			}},
		{"an avatar publishing for its agent: Connected, the conversation state from the agent", []string{"--livekit-avatar", "--livekit-leave-after", "3s"}, "lk-avatar", 10 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				checkSteps(t, p.waitRecords(t, ctx, "Connected", nConnected(1)))
				// The DP leaves (3 s): the agent first, as LiveKit Agents' avatar
				// workers follow their agent.
				recs := p.waitRecords(t, ctx, "conversationEnded", atLeast(1, ended("conversationEnded")))
				if len(where(recs, func(r map[string]any) bool { return r["msg"] == "the Digital Person's avatar is in the room" })) == 0 {
					t.Fatal("no line: the Digital Person's avatar is in the room")
				}
				if len(where(recs, func(r map[string]any) bool { return r["conversation_state"] == "listening" })) == 0 {
					t.Fatal("no conversation state from the agent's lk.agent.state")
				}
				if r := dp.waitRoom(t, ctx, "lk-avatar", func(r lkdp.RoomInfo) bool { return r.State == lkdp.StateEnded }); r.EndReason != lkdp.EndLeft || r.Video.Frames == 0 || r.Audio.Packets == 0 {
					t.Fatalf("the DP's room: %+v", r)
				}
			}},
		{"leave after N: conversationEnded and a fresh session in a new room", []string{"--livekit-leave-after", "2s"}, "", 10 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				recs := p.waitRecords(t, ctx, "conversationEnded, then Connected again", func(recs []map[string]any) bool {
					return len(where(recs, ended("conversationEnded"))) >= 1 && len(connectedIDs(recs)) >= 2
				})
				ids := connectedIDs(recs)
				if ids[0] == ids[1] {
					t.Fatalf("Connected again in the same room %s, want a new one", ids[0])
				}
				if r := dp.waitRoom(t, ctx, ids[0], func(r lkdp.RoomInfo) bool { return r.State == lkdp.StateEnded }); r.EndReason != lkdp.EndLeft {
					t.Fatalf("the first room at the DP: %+v", r)
				}
			}},
		{"remove the kiosk: conversationEnded", []string{"--livekit-remove-kiosk-after", "2s"}, "lk-kick", 10 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				recs := p.waitRecords(t, ctx, "conversationEnded", atLeast(1, ended("conversationEnded")))
				if len(connectedIDs(recs)) != 1 {
					t.Fatalf("Connected %v before conversationEnded", connectedIDs(recs))
				}
				if r := dp.waitRoom(t, ctx, "lk-kick", func(r lkdp.RoomInfo) bool { return r.State == lkdp.StateEnded }); r.EndReason != lkdp.EndKickedKiosk {
					t.Fatalf("the DP's room: %+v", r)
				}
				// A fresh session: the static token's room again, with a DP again.
				p.waitRecords(t, ctx, "Connected again", nConnected(2))
			}},
		{"delete the room: conversationEnded", []string{"--livekit-delete-room-after", "2s"}, "lk-delete", 10 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				recs := p.waitRecords(t, ctx, "conversationEnded", atLeast(1, ended("conversationEnded")))
				if len(connectedIDs(recs)) != 1 {
					t.Fatalf("Connected %v before conversationEnded", connectedIDs(recs))
				}
				if r := dp.waitRoom(t, ctx, "lk-delete", func(r lkdp.RoomInfo) bool { return r.State == lkdp.StateEnded }); r.EndReason != lkdp.EndDeletedRoom {
					t.Fatalf("the DP's room: %+v", r)
				}
			}},
		{"token endpoint refuses: unauthorized with backoff, no hot loop", []string{"--token-endpoint-refuse", "always", "--token-endpoint-refuse-status", "403"}, "", 10 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, _ time.Time) {
				recs := p.waitRecords(t, ctx, "five refusals", atLeast(5, failed("serverConnectionFailed")))
				fails := where(recs, failed("serverConnectionFailed"))
				for _, r := range fails {
					if r["error_detail"] != "unauthorized" {
						t.Fatalf("failure without detail unauthorized: %v", r)
					}
				}
				// Backoff: a retry after every failure, each delay drawn
				// below its ceiling (full jitter: 50 ms doubling, at most
				// 500 ms, writeLab's reconnect settings).
				var delays []time.Duration
				for _, r := range where(recs, func(r map[string]any) bool { _, ok := r["retry_in"]; return ok }) {
					d, _ := time.ParseDuration(r["retry_in"].(string))
					delays = append(delays, d)
				}
				if len(delays) < len(fails)-1 {
					t.Fatalf("%d failures, %d retries", len(fails), len(delays))
				}
				for i, d := range delays {
					if ceiling := min(500*time.Millisecond, 50*time.Millisecond<<i); d < 0 || d > ceiling {
						t.Fatalf("retry %d after %s, want within [0, %s]: delays %v", i+1, d, ceiling, delays)
					}
				}
				// One request per attempt: the requests counted by the
				// endpoint are the failures logged (plus one under way).
				if st := dp.stats(t, ctx); st.TokenRequests > len(where(recsNow(p), failed("serverConnectionFailed")))+1 || st.TokensRefused < st.TokenRequests-1 {
					t.Fatalf("token endpoint stats %+v after %d failures", st, len(fails))
				}
			}},
		{"token endpoint slow: fails within the join's timeout, backoff", []string{"--token-endpoint-delay", "60s"}, "", 30 * time.Second,
			func(t *testing.T, ctx context.Context, p *proc, dp *lkDPProc, start time.Time) {
				recs := p.waitRecords(t, ctx, "a failure", atLeast(1, failed("serverConnectionFailed")))
				if d := time.Since(start); d > 20*time.Second {
					t.Fatalf("the first failure after %s, want within the join's 10 s timeout", d)
				}
				r := where(recs, failed("serverConnectionFailed"))[0]
				if e, _ := r["error"].(string); !strings.Contains(e, "token endpoint") {
					t.Fatalf("failure %v, want the token endpoint's", r)
				}
				p.waitRecords(t, ctx, "a retry", func(recs []map[string]any) bool {
					return len(where(recs, func(r map[string]any) bool { _, ok := r["retry_in"]; return ok })) >= 1
				})
				if st := dp.stats(t, ctx); st.TokenRequests > 2 {
					t.Fatalf("%d token requests within one join timeout", st.TokenRequests)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			srv := livekittest.Start(t)
			dp := startLiveKitDP(t, ctx, srv, c.dpArgs...)
			lab := liveKitLab(t, srv, dp, c.room, c.step)
			start := time.Now()
			p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
			c.check(t, ctx, p, dp, start)
			noSecret(t, p, lkCredential, "eyJ")
		})
	}
}

// TestLiveKitAgentDispatch: `kioskd run` with server.livekit.agent_name
// and a token endpoint asks for that agent (room_config), and dpsim's
// LiveKit mode as the agent named "avatar" goes only where it is
// dispatched: Connected when the kiosk asks for avatar; sessionTimeout
// (no DP ever joins) when it asks for another agent or for none.
func TestLiveKitAgentDispatch(t *testing.T) {
	for _, c := range []struct {
		name, agent string // the kiosk's agent_name ("" = none)
		joined      bool
	}{{"same agent: Connected", "avatar", true}, {"another agent: sessionTimeout", "other", false}, {"no dispatch: sessionTimeout", "", false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			srv := livekittest.Start(t)
			dp := startLiveKitDP(t, ctx, srv, "--livekit-agent-name", "avatar")
			step := 3 * time.Second
			if c.joined {
				step = 15 * time.Second
			}
			lab := liveKitLab(t, srv, dp, "", step)
			if c.agent != "" {
				setAgentName(t, lab, c.agent)
			}
			p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
			var room string
			if c.joined {
				recs := p.waitRecords(t, ctx, "Connected", nConnected(1))
				checkSteps(t, recs)
				room = connectedIDs(recs)[0]
				if r := dp.waitRoom(t, ctx, room, func(r lkdp.RoomInfo) bool { return r.Connected }); !slices.Equal(r.Dispatch, []string{"avatar"}) {
					t.Fatalf("the DP's room: %+v, want dispatch [avatar]", r)
				}
			} else {
				recs := p.waitRecords(t, ctx, "two sessionTimeouts", atLeast(2, failed("sessionTimeout")))
				if ids := connectedIDs(recs); len(ids) != 0 {
					t.Fatalf("Connected in %v without the agent", ids)
				}
				rs := dp.rooms(t, ctx)
				if len(rs) == 0 {
					t.Fatal("the DP saw no room")
				}
				for _, r := range rs {
					if r.State != lkdp.StateIgnored || (c.agent != "" && !slices.Equal(r.Dispatch, []string{c.agent})) || (c.agent == "" && len(r.Dispatch) != 0) {
						t.Fatalf("the DP's room %+v: want ignored with dispatch %q", r, c.agent)
					}
				}
				if st := dp.stats(t, ctx); st.Joins != 0 || st.TokensIssued < 2 {
					t.Fatalf("the DP's stats %+v: want no join, a token per attempt", st)
				}
			}
			noSecret(t, p, lkCredential, "eyJ")
		})
	}
}

// setAgentName adds server.livekit.agent_name to a liveKitLab config.
func setAgentName(t *testing.T, lab labFiles, name string) {
	t.Helper()
	b, err := os.ReadFile(lab.config)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.Replace(string(b), "livekit: {identity: kiosk-cli}", "livekit: {identity: kiosk-cli, agent_name: "+name+"}", 1)
	if c == string(b) {
		t.Fatal("no livekit section in the lab config")
	}
	if err := os.WriteFile(lab.config, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLiveKitConversationState is issue 14 item 7 through `kioskd run` on
// the livekit dialect: as dpsim's LiveKit DP changes its lk.agent.state
// (POST /conversation), kioskd logs a line with conversation_state (the
// journal's CONVERSATION_STATE: the same attribute, upper-cased by the
// journald handler) and SESSION_ID, `kioskd status --json` shows
// conversation_state, and kioskd_conversation_state on /metrics is 1 for
// that state only.
func TestLiveKitConversationState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	srv := livekittest.Start(t)
	dp := startLiveKitDP(t, ctx, srv, "--livekit-agent-name", "avatar")
	lab := liveKitLab(t, srv, dp, "", 15*time.Second)
	setAgentName(t, lab, "avatar")
	addr := freeLoopback(t)
	b, err := os.ReadFile(lab.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lab.config, append(b, "  metrics_listen: "+addr+"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
	room := connectedIDs(p.waitRecords(t, ctx, "Connected", nConnected(1)))[0]
	dp.waitRoom(t, ctx, room, func(r lkdp.RoomInfo) bool { return r.Connected })

	convLines := func(recs []map[string]any) []map[string]any {
		return where(recs, func(r map[string]any) bool { _, ok := r["conversation_state"]; return ok })
	}
	for i, st := range []string{"listening", "thinking", "speaking", "listening"} {
		before := len(convLines(recsNow(p)))
		if i == 0 {
			before = 0 // the first listening is the DP's own, once it publishes (maybe before Connected)
		} else {
			resp, err := http.Post(dp.admin+"/conversation?state="+st+"&room="+room, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST /conversation?state=%s: HTTP %d", st, resp.StatusCode)
			}
			if r := dp.waitRoom(t, ctx, room, func(r lkdp.RoomInfo) bool { return r.ConversationState == st }); r.ConversationState != st {
				t.Fatal("unreachable")
			}
		}
		recs := p.waitRecords(t, ctx, "conversation state "+st, func(recs []map[string]any) bool {
			l := convLines(recs)
			return len(l) > before && l[len(l)-1]["conversation_state"] == st
		})
		last := convLines(recs)[len(convLines(recs))-1]
		if last["session_id"] != room {
			t.Fatalf("conversation line %v: want session_id %s", last, room)
		}
		var out, errOut strings.Builder
		if code := Main([]string{"status", "--json", "--socket", lab.socket}, &out, &errOut); code != 0 {
			t.Fatalf("kioskd status --json: %d %s", code, errOut.String())
		}
		var js struct {
			State             string `json:"state"`
			ConversationState string `json:"conversation_state"`
		}
		if err := json.Unmarshal([]byte(out.String()), &js); err != nil || js.State != "Connected" || js.ConversationState != st {
			t.Fatalf("kioskd status --json %s (%v): want Connected and conversation_state %s", out.String(), err, st)
		}
		waitScrape(t, ctx, addr, "kioskd_conversation_state "+st, func(m map[string]float64) bool {
			for _, s := range []string{"none", "idle", "initializing", "listening", "thinking", "speaking"} {
				want := 0.0
				if s == st {
					want = 1
				}
				if v, ok := m[`kioskd_conversation_state{state="`+s+`"}`]; !ok || v != want {
					return false
				}
			}
			return true
		})
	}
	// Every change logged once, in order; initializing only before
	// listening (the DP joins with it, and may publish before kioskd
	// picks it as the DP).
	var got []string
	for _, r := range convLines(recsNow(p)) {
		got = append(got, r["conversation_state"].(string))
	}
	if s := strings.TrimPrefix(strings.Join(got, " "), "initializing "); s != "listening thinking speaking listening" {
		t.Fatalf("conversation lines %v, want [initializing] listening thinking speaking listening", got)
	}
	noSecret(t, p, lkCredential, "eyJ")
}

func recsNow(p *proc) []map[string]any {
	recs, _ := p.records()
	return recs
}

// TestLiveKitDemo: `kioskd demo --dialect livekit` with the test's
// livekit-server and dpsim binaries: the same UI to Connected, a new room
// after the DP left, what the DP received.
func TestLiveKitDemo(t *testing.T) {
	t.Setenv(envLiveKitServer, livekittest.BinaryPath())
	t.Setenv(envDpsim, dpsimBinary(t))
	var out, errOut strings.Builder
	code := runLiveKitDemo(demoOptions{For: 12 * time.Second, Camera: "test", Microphone: "test", Speaker: "none"}, &out, &errOut)
	o := out.String()
	if code != 0 {
		t.Fatalf("demo exit %d: %s\n%s", code, errOut.String(), o)
	}
	for _, want := range []string{"livekit-server --dev runs at ws://127.0.0.1:", "25% SearchingForDigitalPerson", "50% DownloadingAssets",
		"75% ConnectingToDigitalPerson", "100% Connected", "disconnected: conversationEnded", "→ kioskd started a NEW session kiosk-",
		"kioskd demo: after the Digital Person left, Connected again in", "(640x480)", "(dominant 440 Hz)", "LEDs: red ○ amber ○ green ●"} {
		if !strings.Contains(o, want) {
			t.Errorf("demo output lacks %q:\n%s", want, o)
		}
	}
}

// The version the demo looks for is the tests' (and scripts/livekit-server.sh's).
func TestLiveKitDemoVersion(t *testing.T) {
	b, err := os.ReadFile("../scripts/livekit-server.sh")
	if err != nil {
		t.Fatal(err)
	}
	if liveKitServerVersion != livekittest.Version || !strings.Contains(string(b), "\nversion="+liveKitServerVersion+"\n") {
		t.Fatalf("the demo looks for livekit-server %s; the tests run %s; scripts/livekit-server.sh builds another", liveKitServerVersion, livekittest.Version)
	}
}
