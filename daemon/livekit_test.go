//go:build livekit

package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/leds/ledstest"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// liveKitDaemon is a daemon on the livekit dialect with small synthetic
// media, its token file holding token, set applied to the config (the
// server: a url or a token endpoint), the config checked as `kioskd run`
// checks it. It records the daemon's events; the test runs it.
func liveKitDaemon(t *testing.T, token string, set func(*config.Config)) (*config.Config, *sessiontest.Recorder, *daemon.Daemon) {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvToken, "")
	cfg := config.Default()
	cfg.Server.TokenFile = tokenFile
	cfg.Server.Dialect = config.DialectLiveKit
	cfg.Session.StateDir = filepath.Join(dir, "state")
	cfg.Media.Camera, cfg.Media.Microphone, cfg.Media.Speaker = "test", "test", "none"
	cfg.Media.Width, cfg.Media.Height, cfg.Media.FPS = 160, 120, 10
	cfg.Status.Socket = filepath.Join(dir, "status.sock")
	set(cfg)
	if err := cfg.ValidateForRun(); err != nil {
		t.Fatal(err)
	}
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{
		Log:       testlog.New(t, slog.LevelInfo),
		LEDs:      ledstest.New(clock.Real),
		Observers: []func(<-chan contract.Event){rec.Observe},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, rec, d
}

// server.dialect: livekit builds the LiveKit dialect from the config, and
// the same daemon (supervisor, LEDs, status) reaches Connected in the
// token's room, with the room as session id, and the DP hears the kiosk.
func TestLiveKitDialectFromConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := livekittest.Start(t)
	const room = "lobby-daemon"
	dp := srv.JoinDP(t, room, "dp-1")
	cfg, rec, d := liveKitDaemon(t, livekittest.Token(t, room, "kiosk-daemon", false), func(cfg *config.Config) {
		cfg.Server.URL = srv.URL
	})
	stop := run(t, d)
	evs := rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 })
	if id := connectedIDs(evs)[0]; id != room {
		t.Fatalf("session id %q, want the room %q", id, room)
	}
	if r, ok := dp.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets > 10 && r.VideoFrames > 2 }); !ok {
		t.Fatalf("the DP received %+v", r)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// A room in the config that is not the token's is refused at start.
	cfg.Server.LiveKit.Room = "another-room"
	if _, err := daemon.New(cfg, daemon.Options{LEDs: ledstest.New(clock.Real)}); err == nil {
		t.Fatal("a room that is not the token's was accepted")
	}
}

// server.token_endpoint: with no server.url, the daemon asks the endpoint
// (bearer credential from the token file) for a kiosk-<hostname>-<random>
// room as server.livekit.identity, joins the server_url it answers and is
// Connected in that room; the stored session holds neither the credential
// nor the token.
func TestLiveKitTokenEndpointFromConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := livekittest.Start(t)
	const credential = "daemon-credential-0123456789"
	rooms := make(chan string, 8)
	var mu sync.Mutex
	var tokens []string
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Room     string `json:"room_name"`
			Identity string `json:"participant_identity"`
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if json.Unmarshal(b, &req) != nil || r.Header.Get("Authorization") != "Bearer "+credential || req.Identity != "kiosk-ep" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		tok, err := livekittest.Mint(req.Room, req.Identity, false)
		if err != nil {
			http.Error(w, "mint", http.StatusInternalServerError)
			return
		}
		mu.Lock()
		tokens = append(tokens, tok)
		mu.Unlock()
		rooms <- req.Room
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"server_url": srv.URL, "participant_token": tok})
	}))
	defer ep.Close()
	cfg, rec, d := liveKitDaemon(t, credential+"\n", func(cfg *config.Config) {
		cfg.Server.TokenEndpoint = ep.URL
		cfg.Server.LiveKit.Identity = "kiosk-ep"
	})
	stop := run(t, d)
	var room string
	select {
	case room = <-rooms:
	case <-ctx.Done():
		t.Fatal("the daemon never asked the token endpoint")
	}
	host, _ := os.Hostname()
	if !regexp.MustCompile(`^kiosk-` + regexp.QuoteMeta(host) + `-[0-9a-f]{8}$`).MatchString(room) {
		t.Fatalf("room %q, want kiosk-<hostname>-<random>", room)
	}
	srv.JoinDP(t, room, "dp-1")
	evs := rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 })
	if id := connectedIDs(evs)[0]; id != room {
		t.Fatalf("session id %q, want the room %q", id, room)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(cfg.Session.StateDir, "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, secret := range append(tokens, credential) {
		if strings.Contains(string(state), secret) {
			t.Fatalf("session.json holds a secret: %s", state)
		}
	}
	if !strings.Contains(string(state), room) {
		t.Fatalf("session.json does not hold the room %s: %s", room, state)
	}
}
