package daemon_test

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/hw/hwtest"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/session/sessiontest"
)

func connectedIDs(evs []contract.Event) []string {
	var ids []string
	for _, e := range evs {
		if e.Kind == contract.EventState && e.State == contract.Connected {
			ids = append(ids, e.SessionID)
		}
	}
	return ids
}

// TestOptionalCameraPluggedInWhileConnected: the daemon, configured with
// an optional camera by stable path (media.camera_required: false) that
// is not plugged in, connects to dpsim without video. The USB camera is
// then plugged in (a V4L2 node and its /dev/v4l/by-id link appear, in a
// fake /dev that the daemon's own device watcher polls): dpsim counts
// 640x480 frames for the same session id, without a daemon restart, a
// reconnect or any state change.
func TestOptionalCameraPluggedInWhileConnected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	dev := t.TempDir()
	fake := hwtest.New(dev)
	const byID = "usb-Acme_Webcam_C1-video-index0"

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(dp.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvToken, "")
	cfg := config.Default()
	cfg.Server.URL = dp.URL
	cfg.Server.TokenFile = tokenFile
	cfg.Session.StateDir = t.TempDir()
	cfg.Session.Reconnect.InitialDelay = 10 * time.Millisecond
	cfg.Session.Reconnect.MaxDelay = 200 * time.Millisecond
	cfg.Media.Camera = fake.ByIDPath(byID)
	cfg.Media.CameraRequired = false
	cfg.Media.Width, cfg.Media.Height, cfg.Media.FPS = 640, 480, 15
	cfg.Media.Microphone = "test"
	cfg.Media.Speaker = "none"
	cfg.Status.Socket = filepath.Join(t.TempDir(), "status.sock")

	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{
		Log:                 testlog.New(t, slog.LevelInfo),
		Observers:           []func(<-chan contract.Event){rec.Observe},
		Cameras:             fake,
		DeviceDirs:          []string{dev, filepath.Join(dev, "v4l", "by-id")},
		DeviceWatchInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	evs := rec.WaitFor(t, ctx, "Connected without the camera", func(evs []contract.Event) bool { return len(connectedIDs(evs)) == 1 })
	id := connectedIDs(evs)[0]
	if _, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for _, s := range ss {
			if s.ID == id && s.Audio.Packets >= 10 {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("dpsim did not receive the kiosk's audio: %+v", dp.Sessions())
	}
	if s, _ := dp.Session(id); s.Video != (dpsim.VideoStats{}) {
		t.Fatalf("dpsim accounted video before a camera was plugged in: %+v", s.Video)
	}

	if err := fake.Plug(hwtest.Camera{Node: "video0", ByID: byID, Caps: hwtest.UVCCaps("Acme Webcam C1"), FPS: 15}); err != nil {
		t.Fatal(err)
	}
	ss, err := dp.WaitForSession(ctx, id, func(s dpsim.SessionInfo) bool {
		return s.Video.Frames >= 5 && s.Video.Width == 640 && s.Video.Height == 480
	})
	if err != nil {
		t.Fatalf("dpsim did not receive the camera plugged in mid-session: %+v", dp.Sessions())
	}
	if len(ss) != 1 || ss[0].Connects != 1 || ss[0].Resumes != 0 || !ss[0].Connected {
		t.Fatalf("the camera cost a reconnect: %+v", ss)
	}
	evs, _ = rec.Snapshot()
	var states []string
	for _, e := range evs {
		switch e.Kind {
		case contract.EventState:
			states = append(states, e.State.String())
		case contract.EventConnectFailed, contract.EventMediaFailed, contract.EventDisconnected, contract.EventRetry:
			t.Fatalf("plugging in an optional camera gave %v: %v", e.Kind, evs)
		}
	}
	if got, want := fmt.Sprint(states), "[SearchingForDigitalPerson DownloadingAssets ConnectingToDigitalPerson Connected]"; got != want {
		t.Fatalf("states %s, want %s", got, want)
	}
	if snap := d.Supervisor().Snapshot(); snap.State != contract.Connected || snap.SessionID != id {
		t.Fatalf("snapshot %+v, want Connected %s", snap, id)
	}
	if n := fake.Opens("video0"); n != 1 {
		t.Fatalf("camera opened %d times, want 1", n)
	}
}
