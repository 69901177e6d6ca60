//go:build livekit

package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
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

// server.dialect: livekit builds the LiveKit dialect from the config, and
// the same daemon (supervisor, LEDs, status) reaches Connected in the
// token's room, with the room as session id, and the DP hears the kiosk.
func TestLiveKitDialectFromConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := livekittest.Start(t)
	const room = "lobby-daemon"
	dp := srv.JoinDP(t, room, "dp-1")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(livekittest.Token(t, room, "kiosk-daemon", false)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvToken, "")
	cfg := config.Default()
	cfg.Server.URL = srv.URL
	cfg.Server.TokenFile = tokenFile
	cfg.Server.Dialect = config.DialectLiveKit
	cfg.Session.StateDir = filepath.Join(dir, "state")
	cfg.Media.Camera, cfg.Media.Microphone, cfg.Media.Speaker = "test", "test", "none"
	cfg.Media.Width, cfg.Media.Height, cfg.Media.FPS = 160, 120, 10
	cfg.Status.Socket = filepath.Join(dir, "status.sock")
	if err := cfg.Validate(); err != nil {
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
