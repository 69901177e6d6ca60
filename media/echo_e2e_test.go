package media_test

import (
	"github.com/kioskd/kioskd/dpwire"

	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/mediadevices"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/audio/aec/aectest"
	"github.com/kioskd/kioskd/audio/audiotest"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/session"
)

type roomOpener struct{ room *aectest.Room }

func (o roomOpener) OpenMicrophone(context.Context, media.Config) (mediadevices.AudioSource, error) {
	return o.room, nil
}

// End to end against dpsim, over real WebSocket and WebRTC: the DP's 880 Hz
// voice is played by the kiosk's speaker (a real audio.Player on an ALSA
// `file` PCM) into a simulated room (60 ms, -6 dB) whose microphone also
// hears the visitor's 440 Hz at -20 dBFS from 2.5 s on; the kiosk sends
// what it hears.
// dpsim's echo_dbfs is the level of 880 Hz in what it receives: without
// cancellation it reads the echo's level (-16.5 dBFS: the voice at 0.3 of
// full scale, -6 dB), with cancellation at least 20 dB less, while the
// visitor's tone gets through.
func TestEchoCancellationEndToEndWithDPSim(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	for _, cancel := range []bool{false, true} {
		s := echoE2E(t, cancel)
		t.Logf("echo cancellation %v: dpsim audio %+v", cancel, s.Audio)
		if !cancel {
			if math.Abs(s.Audio.EchoDBFS-(-16.5)) > 2 {
				t.Errorf("without cancellation echo_dbfs %.1f, want the echo's -16.5 ± 2", s.Audio.EchoDBFS)
			}
			continue
		}
		if s.Audio.EchoDBFS > -36.5 {
			t.Errorf("with cancellation echo_dbfs %.1f, want <= -36.5 (20 dB below the echo)", s.Audio.EchoDBFS)
		}
		if math.Abs(s.Audio.DominantHz-440) > 10 || s.Audio.LevelDBFS < -26 {
			t.Errorf("the visitor did not get through: dominant %.1f Hz, level %.1f dBFS", s.Audio.DominantHz, s.Audio.LevelDBFS)
		}
	}
}

func echoE2E(t *testing.T, cancel bool) dpsim.SessionInfo {
	t.Helper()
	ctx, stopAll := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopAll()
	dir := t.TempDir()
	conf, err := audiotest.WriteConfig(dir, "", "", "spk", filepath.Join(dir, "speaker.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALSA_CONFIG_PATH", conf)
	visitor := aectest.Tone(48000, aectest.VisitorHz, 0.1)
	// The visitor starts talking after 2.5 s of audio, over the DP.
	room := aectest.NewRoom(aectest.RoomConfig{Delay: 60 * time.Millisecond, Pace: true,
		Near: func(i int) float64 {
			if i < 5*48000/2 {
				return 0
			}
			return visitor[i%48000]
		}})
	defer room.Close()
	ref := aec.NewReference(48000, aec.WithClock(room.Now), aec.WithTee(room.Play))
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario(), VideoWidth: 160, VideoHeight: 120, VideoFPS: 10})
	src := media.NewSource(media.Config{Camera: "none", Microphone: "room", MicrophoneRequired: true, EchoCancellation: cancel},
		nil, media.WithEchoReference(ref), media.WithMicrophone(roomOpener{room}))
	sink := media.NewSink(media.SinkConfig{Speaker: "spk", EchoReference: ref}, nil)
	dia, err := dpv1.New(dpv1.Config{URL: dp.URL, Token: dp.Token, Client: dpwire.ClientInfo{Name: "kioskd-echo-test", Audio: true}})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := session.New(session.Config{
		StepTimeout: 10 * time.Second, ConnectTimeout: 30 * time.Second,
		InitialDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
	}, dia, session.Options{Media: src, Sink: sink, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sup.Run(runCtx)
	}()
	defer func() {
		room.Close()
		stop()
		<-done
		src.Close()
		sink.Close()
	}()
	// Three seconds of the DP's voice played (the visitor talks from 2.5 s
	// of captured audio on), then a full analysis window of what the kiosk
	// sent since: double talk after the canceller converged.
	for sink.Stats().Played < 3*48000 || room.Captured() < 3*48000 {
		select {
		case <-ctx.Done():
			t.Fatalf("the DP's voice was not played: %+v", sink.Stats())
		case <-time.After(20 * time.Millisecond):
		}
	}
	var after int64
	if ss := dp.Sessions(); len(ss) == 1 {
		after = ss[0].Audio.Packets
	}
	ss, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		return len(ss) == 1 && ss[0].Audio.Packets >= after+75 && ss[0].Audio.WindowMS >= 1000
	})
	if err != nil {
		t.Fatalf("dpsim: %+v", dp.Sessions())
	}
	if st, ok := src.ProcessingStats(); ok {
		t.Logf("processing %+v; sink %+v", st, sink.Stats())
	}
	return ss[0]
}
