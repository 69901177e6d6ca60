package media_test

import (
	"github.com/kioskd/kioskd/dpwire"

	"context"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

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

// voiceFeed is the Sink with the DP's voice counted on its way to the
// speaker and coupled to the room by frames: the room's microphone takes
// a chunk only once the voice the speaker will play meanwhile has reached
// the player (the room's Gate), and the voice is read no further ahead of
// the microphone than the player's buffer holds. The microphone is also
// paced to the wall clock (the DP sends in real time), but on a loaded
// machine dpsim, in this process, falls behind it (its pacer skips ahead
// after a stall) while the room catches up: uncoupled, the speaker ran
// dry several times a run, and every break of the tone left a burst of
// residual echo in dpsim's 1 s window. A remote DP does not fall behind
// because the kiosk is loaded.
type voiceFeed struct {
	*media.Sink
	room *aectest.Room
	fed  atomic.Int64 // packets decoded and handed to the player
	c0   atomic.Int64 // the room's capture index when the first one was
}

// Between feedMin and feedMax of the DP's voice (since the first packet)
// is handed to the player ahead of the room's microphone (since then):
// the speaker runs at most 30 ms ahead of the microphone and started
// no later than the first packet, so the player's buffer then holds 30 to
// 170 ms, never empty and never beyond its 200 ms.
const (
	feedMin = 60 * 48
	feedMax = 120 * 48
)

func (f *voiceFeed) gate(captured int) bool {
	n := f.fed.Load()
	return n == 0 || n*960 >= int64(captured)-f.c0.Load()+feedMin
}

func (f *voiceFeed) HandleTrack(ctx context.Context, track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	if track.Kind() != webrtc.RTPCodecTypeAudio {
		f.Sink.HandleTrack(ctx, track, receiver)
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = track.SetReadDeadline(time.Now()) })
	defer stop()
	var n int64 // packets read: all but the last are in the player when the next is asked for
	f.Sink.HandleAudio(ctx, func() (*rtp.Packet, error) {
		if n > 0 {
			if n == 1 {
				f.c0.Store(int64(f.room.Captured()))
			}
			f.fed.Store(n)
			f.room.Notify()
			f.room.WaitCaptured(int(f.c0.Load() + n*960 - feedMax))
		}
		p, _, err := track.ReadRTP()
		if err == nil {
			n++
		}
		return p, err
	})
}

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
// visitor's tone gets through. The microphone opens before the speaker
// (which opens on the DP's first packet), as in the daemon: the far end
// was never late then, and the filter covers the delay if it was
// estimated. The room runs on frames (voiceFeed), so that a loaded machine
// makes the run slower, not different: the speaker never runs dry.
func TestEchoCancellationEndToEndWithDPSim(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	for _, cancel := range []bool{false, true} {
		s, st, sk := echoE2E(t, cancel)
		t.Logf("echo cancellation %v: dpsim audio %+v", cancel, s.Audio)
		if sk.Underruns > 0 || sk.Dropped > 0 {
			t.Errorf("the speaker ran dry %d times or dropped %d samples: the room is not coupled to the DP's voice (%+v)", sk.Underruns, sk.Dropped, sk)
		}
		if !cancel {
			if math.Abs(s.Audio.EchoDBFS-(-16.5)) > 2 {
				t.Errorf("without cancellation echo_dbfs %.1f, want the echo's -16.5 ± 2", s.Audio.EchoDBFS)
			}
			continue
		}
		if st.LateMS != 0 {
			t.Errorf("the far end was %.0f ms late: the room never lets the microphone ahead of the speaker (%+v)", st.LateMS, st)
		}
		if st.Estimated && (st.DelayMS < st.FilterMS || st.DelayMS > st.FilterMS+64) {
			t.Errorf("delay %.1f ms estimated, but the filter covers %.1f to %.1f ms", st.DelayMS, st.FilterMS, st.FilterMS+64)
		}
		if s.Audio.EchoDBFS > -36.5 {
			t.Errorf("with cancellation echo_dbfs %.1f, want <= -36.5 (20 dB below the echo)", s.Audio.EchoDBFS)
		}
		if math.Abs(s.Audio.DominantHz-440) > 10 || s.Audio.LevelDBFS < -26 {
			t.Errorf("the visitor did not get through: dominant %.1f Hz, level %.1f dBFS", s.Audio.DominantHz, s.Audio.LevelDBFS)
		}
	}
}

func echoE2E(t *testing.T, cancel bool) (dpsim.SessionInfo, aec.Stats, media.SinkStats) {
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
	feed := &voiceFeed{}
	// The visitor starts talking after 2.5 s of audio, over the DP.
	room := aectest.NewRoom(aectest.RoomConfig{Delay: 60 * time.Millisecond, Pace: true, Gate: feed.gate,
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
	feed.Sink, feed.room = sink, room
	dia, err := dpv1.New(dpv1.Config{URL: dp.URL, Token: dp.Token, Client: dpwire.ClientInfo{Name: "kioskd-echo-test", Audio: true}})
	if err != nil {
		t.Fatal(err)
	}
	sup, err := session.New(session.Config{
		StepTimeout: 10 * time.Second, ConnectTimeout: 30 * time.Second,
		InitialDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
	}, dia, session.Options{Media: src, Sink: feed, Rand: func() float64 { return 0.5 }})
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
	st, _ := src.ProcessingStats()
	sk := sink.Stats()
	t.Logf("processing %+v; sink %+v", st, sk)
	return ss[0], st, sk
}
