//go:build livekit

package livekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/livekit"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
	lkproto "github.com/livekit/protocol/livekit"
)

// credential is the kiosk's bearer credential for the token endpoint.
const credential = "kiosk-credential-0123456789abcdef"

// tokenRequest is what the endpoint heard.
type tokenRequest struct {
	Room, Identity, Name, Auth string
	Extra                      map[string]json.RawMessage
}

// tokenEndpoint is a LiveKit standard token endpoint minting real tokens
// for the dev server's key, or answering as answer says.
type tokenEndpoint struct {
	srv       *httptest.Server
	serverURL string
	rooms     chan string // every room asked for, in order
	answer    func(w http.ResponseWriter, r *http.Request) bool

	mu     sync.Mutex
	reqs   []tokenRequest
	tokens []string // every token it minted
}

func newTokenEndpoint(t *testing.T, serverURL string, answer func(http.ResponseWriter, *http.Request) bool) *tokenEndpoint {
	e := &tokenEndpoint{serverURL: serverURL, rooms: make(chan string, 64), answer: answer}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Room     string `json:"room_name"`
		Identity string `json:"participant_identity"`
		Name     string `json:"participant_name"`
	}
	var all map[string]json.RawMessage
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	_ = json.Unmarshal(body, &req)
	_ = json.Unmarshal(body, &all)
	delete(all, "room_name")
	delete(all, "participant_identity")
	delete(all, "participant_name")
	e.mu.Lock()
	e.reqs = append(e.reqs, tokenRequest{req.Room, req.Identity, req.Name, r.Header.Get("Authorization"), all})
	e.mu.Unlock()
	select {
	case e.rooms <- req.Room:
	default:
	}
	if e.answer != nil && e.answer(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+credential || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	tok, err := livekittest.Mint(req.Room, req.Identity, false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"server_url": e.serverURL, "participant_token": tok})
}

func (e *tokenEndpoint) requests() []tokenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.reqs)
}

// nextRoom is the next room the kiosk asks for.
func (e *tokenEndpoint) nextRoom(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case r := <-e.rooms:
		return r
	case <-ctx.Done():
		t.Fatalf("the kiosk asked the token endpoint for no room (requests %+v)", e.requests())
		return ""
	}
}

func withEndpoint(url string, f func(*session.Config, *livekit.Config)) opt {
	return func(c *session.Config, lk *livekit.Config) {
		lk.URL, lk.TokenEndpoint = "", url
		if f != nil {
			f(c, lk)
		}
	}
}

func hostRoom(t *testing.T) *regexp.Regexp {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`^kiosk-` + regexp.QuoteMeta(host) + `-[0-9a-f]{8}$`)
}

// With a token endpoint a fresh session asks for a new room
// kiosk-<hostname>-<random> as the configured identity, joins it with the
// endpoint's server_url and token and reaches Connected with the room as
// session id; a signalling cut whose in-call resume is refused (the
// rejoin) asks for the SAME room (resumed); the DP leaving
// (conversationEnded) asks for a NEW one.
func TestTokenEndpointRooms(t *testing.T) {
	ctx := testCtx(t, 120*time.Second)
	srv := livekittest.Start(t)
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "ws://"))
	ep := newTokenEndpoint(t, proxy.URL(), nil)
	k := startKiosk(t, "", credential, withEndpoint(ep.srv.URL, func(_ *session.Config, lk *livekit.Config) {
		lk.Identity = "kiosk-lk-7"
		lk.ResumeTimeout = 1500 * time.Millisecond
	}))
	room1 := ep.nextRoom(t, ctx)
	if !hostRoom(t).MatchString(room1) {
		t.Fatalf("fresh room %q, want kiosk-<hostname>-<8 hex>", room1)
	}
	dp := srv.JoinDP(t, room1, "dp-1")
	evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if got := percentages(evs); !eq(got, []int{25, 50, 75, 100}) {
		t.Fatalf("percentages %v, want [25 50 75 100]\n%s", got, sessiontest.Describe(evs))
	}
	if last := evs[len(evs)-1]; last.SessionID != room1 || last.Resumed {
		t.Fatalf("session %q resumed %v, want a fresh %q\n%s", last.SessionID, last.Resumed, room1, sessiontest.Describe(evs))
	}
	if ids := srv.Participants(t, room1); !slices.Contains(ids, "kiosk-lk-7") {
		t.Fatalf("participants of %s: %v, want the configured identity kiosk-lk-7", room1, ids)
	}
	r := ep.requests()[0]
	if r.Identity != "kiosk-lk-7" || r.Name != "kiosk-lk-7" || r.Auth != "Bearer "+credential || len(r.Extra) != 0 {
		t.Fatalf("request %+v: want participant_identity and _name kiosk-lk-7, the bearer credential, nothing else", r)
	}

	proxy.refuseResume.Store(true) // LiveKit's resume needs no token endpoint: the rejoin does
	proxy.Cut()
	if room := ep.nextRoom(t, ctx); room != room1 {
		t.Fatalf("after a signalling cut the kiosk asked for %q, want the same room %q", room, room1)
	}
	evs = k.rec.WaitFor(t, ctx, "Connected again", connected(2))
	if last := evs[len(evs)-1]; last.SessionID != room1 || !last.Resumed {
		t.Fatalf("after the cut: session %q resumed %v, want %q resumed\n%s", last.SessionID, last.Resumed, room1, sessiontest.Describe(evs))
	}

	dp.Leave()
	room2 := ep.nextRoom(t, ctx)
	if room2 == room1 || !hostRoom(t).MatchString(room2) {
		t.Fatalf("after conversationEnded the kiosk asked for %q, want a new kiosk-<hostname>-<random> (not %q)", room2, room1)
	}
	srv.JoinDP(t, room2, "dp-2")
	evs = k.rec.WaitFor(t, ctx, "Connected in a new room", connected(3))
	if last := evs[len(evs)-1]; last.SessionID != room2 || last.Resumed {
		t.Fatalf("after conversationEnded: session %q resumed %v, want a fresh %q\n%s", last.SessionID, last.Resumed, room2, sessiontest.Describe(evs))
	}
	ep.mu.Lock()
	tokens := slices.Clone(ep.tokens)
	ep.mu.Unlock()
	noSecrets(t, evs, append(tokens, credential)...)
}

// noSecrets fails when an event's cause shows the credential or a token.
func noSecrets(t *testing.T, evs []contract.Event, secrets ...string) {
	t.Helper()
	for _, e := range evs {
		if e.Cause == nil {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(e.Cause.Error(), s) {
				t.Fatalf("a cause shows a secret: %v", e.Cause)
			}
		}
	}
}

// A token endpoint that refuses the credential (401, or 403) is
// serverConnectionFailed with detail unauthorized, retried with backoff:
// one request per attempt, no hot loop.
func TestTokenEndpointRefused(t *testing.T) {
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			ep := newTokenEndpoint(t, "ws://127.0.0.1:1", func(w http.ResponseWriter, _ *http.Request) bool {
				http.Error(w, "no", code)
				return true
			})
			k := startKiosk(t, "", credential, withEndpoint(ep.srv.URL, nil))
			evs := k.rec.WaitFor(t, ctx, "three failures", func(evs []contract.Event) bool {
				return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) >= 3
			})
			var delays []time.Duration
			for _, e := range evs {
				switch e.Kind {
				case contract.EventConnectFailed:
					if e.ErrorName != contract.ServerConnectionFailed || e.ErrorDetail != contract.DetailUnauthorized || !errors.Is(e.Cause, livekit.ErrEndpointRefused) {
						t.Fatalf("refused credential: %v (%v, %v), want serverConnectionFailed (unauthorized)\n%s", e.ErrorName, e.ErrorDetail, e.Cause, sessiontest.Describe(evs))
					}
				case contract.EventRetry:
					delays = append(delays, e.Delay)
				}
			}
			if len(delays) < 2 || delays[0] <= 0 || delays[1] <= 0 {
				t.Fatalf("retries without backoff: %v\n%s", delays, sessiontest.Describe(evs))
			}
			failures := count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed })
			if n := len(ep.requests()); n > failures+1 {
				t.Fatalf("%d requests for %d attempts: a hot loop", n, failures)
			}
			noSecrets(t, evs, credential)
		})
	}
}

// An endpoint slower than the join's deadline is serverConnectionFailed
// within it, not a kiosk stuck in the request: the dialect's own timeout
// of the request, or the supervisor's step deadline, which also cuts the
// request (the endpoint sees it cancelled).
func TestTokenEndpointSlow(t *testing.T) {
	cases := []struct {
		name string
		set  func(*session.Config, *livekit.Config)
		want string
	}{
		{"request timeout", func(_ *session.Config, lk *livekit.Config) { lk.ConnectTimeout = time.Second }, "no answer within 1s"},
		{"step deadline", func(c *session.Config, lk *livekit.Config) {
			c.StepTimeout, lk.ConnectTimeout = time.Second, 30*time.Second
		}, "the server was not reached within 1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			release := make(chan struct{})
			cut := make(chan struct{}, 16)
			ep := newTokenEndpoint(t, "ws://127.0.0.1:1", func(_ http.ResponseWriter, r *http.Request) bool {
				select {
				case <-r.Context().Done():
					cut <- struct{}{}
				case <-release:
				}
				return true
			})
			t.Cleanup(func() { close(release) }) // before ep's Close (cleanups run last first)
			start := time.Now()
			k := startKiosk(t, "", credential, withEndpoint(ep.srv.URL, c.set))
			evs := k.rec.WaitFor(t, ctx, "a failure", func(evs []contract.Event) bool {
				return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) >= 1
			})
			took := time.Since(start)
			for _, e := range evs {
				if e.Kind == contract.EventConnectFailed && (e.ErrorName != contract.ServerConnectionFailed || !strings.Contains(e.Cause.Error(), c.want)) {
					t.Fatalf("slow endpoint: %v (%v), want serverConnectionFailed, %q\n%s", e.ErrorName, e.Cause, c.want, sessiontest.Describe(evs))
				}
			}
			if took > 5*time.Second {
				t.Fatalf("the first failure took %v with a 1 s deadline", took)
			}
			select {
			case <-cut:
			case <-ctx.Done():
				t.Fatal("the request to the endpoint was never cancelled")
			}
		})
	}
}

// What is not a token endpoint's answer is serverConnectionFailed with a
// clear cause (never detail unauthorized), and an endless body is read no
// further than MaxEndpointAnswer.
func TestTokenEndpointBadAnswers(t *testing.T) {
	token := livekittest.Token(t, "another-room", "kiosk-1", false)
	anyRoom := livekittest.Token(t, "", "kiosk-1", false) // names no room: not refused for that
	json201 := func(body string) func(http.ResponseWriter, *http.Request) bool {
		return func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(body))
			return true
		}
	}
	cases := []struct {
		name   string
		answer func(http.ResponseWriter, *http.Request) bool
		want   string
	}{
		{"garbage", json201("<html>" + token + "</html>"), "the answer is not JSON with server_url and participant_token"},
		{"no token", json201(`{"server_url":"ws://127.0.0.1:1"}`), "the answer has no participant_token"},
		{"not a JWT", json201(`{"server_url":"ws://127.0.0.1:1","participant_token":"xyz"}`), "participant_token: livekit: the access token is not a JWT"},
		{"another room", json201(`{"server_url":"ws://127.0.0.1:1","participant_token":"` + token + `"}`), "participant_token is for another room"},
		{"insecure server_url", json201(`{"server_url":"ws://lk.example.com","participant_token":"` + anyRoom + `"}`), "server_url is unencrypted to a host that is not loopback"},
		{"bad scheme", json201(`{"server_url":"ftp://127.0.0.1","participant_token":"` + anyRoom + `"}`), "server_url must be ws, wss, http or https"},
		{"server error", func(w http.ResponseWriter, _ *http.Request) bool {
			http.Error(w, token, http.StatusInternalServerError)
			return true
		}, "the token endpoint failed: HTTP 500"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) bool {
			http.Redirect(w, r, "http://127.0.0.1:1/steal", http.StatusTemporaryRedirect)
			return true
		}, "the token endpoint failed: HTTP 307"},
		{"endless body", func(w http.ResponseWriter, r *http.Request) bool {
			w.WriteHeader(http.StatusCreated)
			chunk := []byte(`{"server_url":"` + strings.Repeat("x", 4000))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
			return true
		}, "the answer is larger than 64 KiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			ep := newTokenEndpoint(t, "", c.answer)
			k := startKiosk(t, "", credential, withEndpoint(ep.srv.URL, nil))
			evs := k.rec.WaitFor(t, ctx, "a failure", func(evs []contract.Event) bool {
				return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) >= 1
			})
			for _, e := range evs {
				if e.Kind != contract.EventConnectFailed {
					continue
				}
				if e.ErrorName != contract.ServerConnectionFailed || e.ErrorDetail != contract.NoDetail || !errors.Is(e.Cause, livekit.ErrEndpoint) || !strings.Contains(e.Cause.Error(), c.want) {
					t.Fatalf("%s: %v (%v, %v), want serverConnectionFailed saying %q\n%s", c.name, e.ErrorName, e.ErrorDetail, e.Cause, c.want, sessiontest.Describe(evs))
				}
			}
			noSecrets(t, evs, credential, token, anyRoom)
		})
	}
}

// With server.livekit.agent_name the request carries LiveKit's explicit
// agent dispatch, room_config {"agents": [{"agent_name": N}]} (the JSON
// of TokenSourceRequest.room_config, a RoomConfiguration with one
// RoomAgentDispatch), on every attempt; without it no room_config
// (TestTokenEndpointRooms: nothing beyond the three names).
func TestTokenEndpointAgentDispatch(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	ep := newTokenEndpoint(t, "", func(w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "refused", http.StatusUnauthorized) // the body is what is tested: no room is joined
		return true
	})
	startKiosk(t, "", credential, withEndpoint(ep.srv.URL, func(_ *session.Config, lk *livekit.Config) {
		lk.Identity, lk.AgentName = "kiosk-lk-8", "avatar-agent"
	}))
	ep.nextRoom(t, ctx)
	ep.nextRoom(t, ctx) // the retry asks the same way
	for _, r := range ep.requests()[:2] {
		if r.Identity != "kiosk-lk-8" || !hostRoom(t).MatchString(r.Room) || len(r.Extra) != 1 {
			t.Fatalf("request %+v: want the names and room_config only", r)
		}
		if got := string(r.Extra["room_config"]); got != `{"agents":[{"agent_name":"avatar-agent"}]}` {
			t.Fatalf("room_config %s, want {\"agents\":[{\"agent_name\":\"avatar-agent\"}]}", got)
		}
	}
}

// New refuses an unusable endpoint; with one, no server URL is needed and
// the credential need not be a JWT.
func TestNewWithEndpoint(t *testing.T) {
	if _, err := livekit.New(livekit.Config{TokenEndpoint: "https://t.example/token", Token: credential}); err != nil {
		t.Fatalf("endpoint without url: %v", err)
	}
	for _, bad := range []string{"ftp://t.example/x", "http://t.example/x", "https://u:p@t.example/x"} {
		if _, err := livekit.New(livekit.Config{TokenEndpoint: bad, Token: credential}); !errors.Is(err, livekit.ErrBadEndpoint) || strings.Contains(err.Error(), "t.example") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := livekit.New(livekit.Config{TokenEndpoint: "http://t.example/x", Token: credential, AllowInsecure: true}); err != nil {
		t.Errorf("http with allow_insecure: %v", err)
	}
	// A static token carries its own room_config: an agent name with one
	// is refused, not ignored.
	if _, err := livekit.New(livekit.Config{URL: "ws://127.0.0.1:7880", Token: livekittest.Token(t, "r", "k", false), AgentName: "a"}); !errors.Is(err, livekit.ErrAgentStatic) {
		t.Errorf("agent name with a static token: %v", err)
	}
}

// A kioskd restart with a token endpoint (a new process on the same state
// directory) asks the endpoint for the stored room, not a new one, and
// joins it, resumed.
func TestTokenEndpointKioskdRestartAsksForTheStoredRoom(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	ep := newTokenEndpoint(t, srv.URL, nil)
	dir := t.TempDir()
	k1 := startKioskIn(t, dir, "", credential, withEndpoint(ep.srv.URL, nil))
	room := ep.nextRoom(t, ctx)
	srv.JoinDP(t, room, "dp-1")
	k1.rec.WaitFor(t, ctx, "Connected", connected(1))
	k1.cancel()
	<-k1.done
	k2 := startKioskIn(t, dir, "", credential, withEndpoint(ep.srv.URL, nil))
	if got := ep.nextRoom(t, ctx); got != room {
		t.Fatalf("after a restart the kiosk asked for %q, want the stored %q", got, room)
	}
	evs := k2.rec.WaitFor(t, ctx, "Connected after the restart", connected(1))
	if last := evs[len(evs)-1]; last.SessionID != room || !last.Resumed {
		t.Fatalf("after a restart: session %q resumed %v, want %q resumed\n%s", last.SessionID, last.Resumed, room, sessiontest.Describe(evs))
	}
}

// A stored room that is gone from a server that creates no rooms on a join
// (room.auto_create: false, as a production server that only lets its
// backend create rooms): the resume's join is refused with 404, which is
// noSessionToResume; the stored session is forgotten and a fresh session,
// at once, joins the room the kiosk is configured for.
func TestStoredRoomGoneIsNoSessionToResume(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.StartWith(t, "room:\n  auto_create: false\n")
	ep := newTokenEndpoint(t, srv.URL, nil)
	for _, room := range []string{"doomed", "lobby"} {
		if _, err := srv.Rooms.CreateRoom(ctx, &lkproto.CreateRoomRequest{Name: room, EmptyTimeout: 600}); err != nil {
			t.Fatalf("create room %s: %v", room, err)
		}
	}
	dir := t.TempDir()
	inRoom := func(room string) opt {
		return withEndpoint(ep.srv.URL, func(_ *session.Config, lk *livekit.Config) { lk.Room = room })
	}
	srv.JoinDP(t, "doomed", "dp-1")
	k1 := startKioskIn(t, dir, "", credential, inRoom("doomed"))
	k1.rec.WaitFor(t, ctx, "Connected in doomed", connected(1))
	k1.cancel()
	<-k1.done
	srv.DeleteRoom(t, "doomed")

	srv.JoinDP(t, "lobby", "dp-2")
	k2 := startKioskIn(t, dir, "", credential, inRoom("lobby"))
	evs := k2.rec.WaitFor(t, ctx, "Connected in lobby", connected(1))
	last := evs[len(evs)-1]
	refused := 0
	for _, e := range evs {
		if e.Kind == contract.EventConnectFailed && e.ErrorName == contract.NoSessionToResume {
			refused++
		}
		if e.Kind == contract.EventRetry {
			t.Fatalf("a retry with backoff before the fresh session: noSessionToResume goes on at once\n%s", sessiontest.Describe(evs))
		}
	}
	if refused != 1 || last.SessionID != "lobby" || last.Resumed {
		t.Fatalf("the gone room: %d noSessionToResume, Connected in %q resumed %v; want 1, then %q fresh\n%s",
			refused, last.SessionID, last.Resumed, "lobby", sessiontest.Describe(evs))
	}
	if got := ep.requests(); len(got) < 3 || got[len(got)-2].Room != "doomed" || got[len(got)-1].Room != "lobby" {
		t.Fatalf("token requests %+v: want the stored room, then the configured one", got)
	}
}
