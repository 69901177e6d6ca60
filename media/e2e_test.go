package media_test

import (
	"github.com/kioskd/kioskd/rtc"

	"github.com/kioskd/kioskd/dpwire"

	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/media/mediatest"
	"github.com/kioskd/kioskd/session"
)

// The kiosk's real media path end to end, against dpsim over real
// WebSocket and WebRTC: the microphone is an ALSA PCM (a `file` PCM
// playing a 440 Hz tone, through malgo), the camera fails on demand, the
// speaker is an ALSA `file` PCM. dpsim hears 440 Hz; the kiosk's speaker
// plays the DP's 880 Hz voice and the sink sees the DP's video; a camera
// lost mid-session is reported, the session resets the tracks (each closed
// once) and capture comes back.
func TestEndToEndWithDPSim(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.raw")
	if err := audiotest.WriteToneFile(tone, 440, 2); err != nil {
		t.Fatal(err)
	}
	spk := filepath.Join(dir, "speaker.raw")
	conf, err := audiotest.WriteConfig(dir, "mic", tone, "spk", spk)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)

	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario(), VideoWidth: 160, VideoHeight: 120, VideoFPS: 10})
	cam := mediatest.NewCamera()
	src := media.NewSource(media.Config{Camera: "flaky", CameraRequired: true, Width: 160, Height: 120, FPS: 10,
		Microphone: "mic", MicrophoneRequired: true, MicrophonePace: true}, nil,
		media.WithCamera(cam), media.WithVideoBitrate(150_000))
	sink := media.NewSink(media.SinkConfig{Speaker: "spk"}, nil)
	dia, err := dpv1.New(dpv1.Config{
		URL: dp.URL, Token: dp.Token,
		Client: dpwire.ClientInfo{Name: "kioskd-media-test", Video: true, Audio: true},
		Peer:   rtc.PeerOptions{ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := session.New(session.Config{
		Resume:      true,
		StepTimeout: 10 * time.Second, ConnectTimeout: 30 * time.Second,
		InitialDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
	}, dia, session.Options{Media: src, Sink: sink, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := sup.Subscribe()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sup.Run(runCtx)
	}()
	defer func() {
		stop()
		<-done
		src.Close()
		sink.Close()
	}()
	failures := 0
	waitConnected := func() string {
		t.Helper()
		for {
			select {
			case e := <-events:
				if e.Kind == contract.EventState && e.State == contract.Connected {
					return e.SessionID
				}
				if e.ErrorName == contract.MediaStreamFailed {
					failures++
				}
			case <-ctx.Done():
				t.Fatal("not Connected")
			}
		}
	}
	heard := func(id string, minFrames int64) dpsim.SessionInfo {
		t.Helper()
		ss, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
			for _, s := range ss {
				if s.ID == id && s.Video.Frames >= minFrames && s.Video.Width == 160 && s.Audio.WindowMS >= 500 &&
					math.Abs(s.Audio.DominantHz-440) <= 10 {
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatalf("dpsim did not hear the kiosk: %+v", dp.Sessions())
		}
		for _, s := range ss {
			if s.ID == id {
				return s
			}
		}
		return dpsim.SessionInfo{}
	}

	id := waitConnected()
	first := heard(id, 5)
	t.Logf("dpsim: video %+v audio %+v", first.Video, first.Audio)

	// The DP's voice and video reach the kiosk.
	for sink.Stats().Played < 48000 || sink.Stats().Width == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("sink %+v", sink.Stats())
		case <-time.After(50 * time.Millisecond):
		}
	}

	// The camera is lost mid-session and comes back.
	cam.Fail(errors.New("VIDIOC_DQBUF: No such device"))
	id2 := waitConnected()
	if failures == 0 {
		t.Fatal("no mediaStreamFailed reported")
	}
	heard(id2, first.Video.Frames+5)
	if opens, closes, double, refused := cam.Counts(); opens < 2 || closes != opens-1 || double != 0 || refused != 0 {
		t.Fatalf("camera opens=%d closes=%d double=%d refused=%d", opens, closes, double, refused)
	}

	st := sink.Stats()
	stop()
	<-done
	sink.Close()
	pcm, err := audiotest.ReadRawFile(spk)
	if err != nil {
		t.Fatal(err)
	}
	var voiced []int16
	for _, v := range pcm {
		if v != 0 {
			voiced = append(voiced, v)
		}
	}
	if len(voiced) < 48000/2 {
		t.Fatalf("%d voiced samples on the speaker; sink %+v", len(voiced), st)
	}
	if hz := analysis.DominantHz(voiced, 48000); math.Abs(hz-880) > 10 {
		t.Fatalf("speaker played %.1f Hz, want 880", hz)
	}
	t.Logf("sink: %+v", st)
}
