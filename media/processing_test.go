package media

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/audio/aec/aectest"
	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/internal/testlog"
)

// testLog is a debug logger writing to t.Log (shown with -v or when the
// test fails): the canceller's moves, with the audio time they came at.
func testLog(t *testing.T) *slog.Logger { return testlog.New(t, slog.LevelDebug) }

type roomMic struct{ room *aectest.Room }

func (o roomMic) OpenMicrophone(context.Context, Config) (mediadevices.AudioSource, error) {
	return o.room, nil
}

// roomRun is the kiosk's real audio path around a simulated room: the DP's
// Opus voice is decoded by the Sink and played by a real audio.Player
// (malgo, an ALSA `file` PCM); what the player hands to the sound card
// goes, through its Tap, to the echo reference and into the room, where
// the microphone hears it delay later at -6 dB with the visitor's 440 Hz
// over it from 2.5 s on; the microphone is the Source's, processed and
// encoded to Opus by mediadevices as for the DP. Everything is coupled by
// counting frames: the room holds the player back to its queue, the
// microphone waits for what it hears to be played, the DP's packets are
// fed as the speaker takes them.
type roomRun struct {
	out        []int16 // what the encoder sent, decoded
	echo, near []int16 // the room's components, per captured sample
	stats      aec.Stats
}

const (
	roomSeconds = 4.0
	visitorFrom = 2.5
)

func runRoom(t *testing.T, delay time.Duration, cancel bool, pkts []*rtp.Packet) roomRun {
	t.Helper()
	dir := t.TempDir()
	alsaTestEnv(t, filepath.Join(dir, "none.raw"), filepath.Join(dir, "speaker.raw"))
	near := aectest.Tone(int(roomSeconds*aectest.Rate)+aectest.Rate, aectest.VisitorHz, 0.15)
	// The DP's packets go to the sink 100 to 160 ms ahead of the
	// microphone (the player, at most 40 ms ahead of the microphone,
	// never runs dry; the jitter buffer never overflows); the microphone
	// waits for them.
	var fed atomic.Int64
	room := aectest.NewRoom(aectest.RoomConfig{Delay: delay, Near: func(i int) float64 {
		if float64(i) < visitorFrom*aectest.Rate || i >= len(near) {
			return 0
		}
		return near[i]
	}, Gate: func(captured int) bool {
		return fed.Load() >= int64(len(pkts)) || fed.Load()*960 >= int64(captured)+5*960
	}})
	ref := aec.NewReference(48000, aec.WithClock(room.Now), aec.WithTee(room.Play))
	sink := NewSink(SinkConfig{Speaker: "spk", EchoReference: ref}, nil)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		i := 0
		sink.handleAudio(ctx, func() (*rtp.Packet, error) {
			for ctx.Err() == nil && i*960 >= room.Captured()+8*960 {
				time.Sleep(100 * time.Microsecond)
			}
			if i >= len(pkts) || ctx.Err() != nil {
				fed.Store(int64(len(pkts)))
				room.Notify()
				return nil, io.EOF
			}
			i++
			fed.Store(int64(i))
			room.Notify()
			return pkts[i-1], nil
		})
	}()
	// The microphone opens once the speaker filled the room's queue (the
	// room holds it back once it is more than its lead ahead), as a sound
	// card is primed before it plays. Opened in the middle of the player's
	// first blocks, the microphone would place the far end's timeline
	// before the queue that the delay includes exists, and the delay would
	// come out shorter than the acoustic one.
	if !room.WaitPlayed(room.Lead() + 1) {
		t.Fatal("the speaker never filled its queue")
	}
	src := NewSource(Config{Camera: "none", Microphone: "room", MicrophoneRequired: true, EchoCancellation: cancel},
		testLog(t), WithEchoReference(ref), WithMicrophone(roomMic{room}))
	defer func() {
		room.Close()
		stop()
		src.Close()
		sink.Close()
		wg.Wait()
	}()
	tr, err := src.Tracks(bg)
	if err != nil {
		t.Fatal(err)
	}
	n := int(roomSeconds * 50)
	packets, err := readEncoded(t, track(t, tr, webrtc.RTPCodecTypeAudio), "opus", n)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var r roomRun
	buf := make([]int16, opus.MaxFrameSamples(48000))
	for _, p := range packets {
		k, err := dec.Decode(p, buf)
		if err != nil {
			t.Fatal(err)
		}
		r.out = append(r.out, buf[:k]...)
	}
	r.echo, r.near = room.Components()
	if st, ok := src.ProcessingStats(); ok {
		r.stats = st
	} else if cancel {
		t.Fatal("no processing stats with echo cancellation on")
	}
	if ps := sink.Stats(); ps.Played == 0 || ps.AudioPackets == 0 || ps.Underruns > 1 || ps.Dropped > 0 {
		// One underrun: the end of the prebuffer before the first packet.
		t.Fatalf("sink %+v", ps)
	}
	return r
}

// level of hz in a 100 ms window starting at t seconds.
func level(x []int16, t float64, hz float64) float64 {
	i := int(t * 48000)
	return analysis.LevelDBFS(x[i:i+4800], 48000, hz)
}

// Through the real player, the Source and the Opus encoder, at 20, 60 and
// 120 ms: without cancellation the DP's 880 Hz goes back to it at the
// echo's level; with it, at least 20 dB lower within 2 s of audio and for
// the rest of the run, double talk included; the visitor's 440 Hz loses at
// most 6 dB.
func TestEchoCancellationThroughPlayerAndMicrophone(t *testing.T) {
	if testing.Short() {
		t.Skip("real ALSA player and Opus encoder")
	}
	pkts := voice(t, 880, int(roomSeconds*50)+50)
	for _, delay := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
		t.Run(fmt.Sprint(delay), func(t *testing.T) {
			off := runRoom(t, delay, false, pkts)
			echoLvl := level(off.echo, 1.5, aectest.VoiceHz)
			backOff := level(off.out, 1.5, aectest.VoiceHz)
			if echoLvl < -20 || math.Abs(backOff-echoLvl) > 2 {
				t.Fatalf("without cancellation: echo %.1f dBFS at the microphone, %.1f dBFS sent, want about -14 both", echoLvl, backOff)
			}
			on := runRoom(t, delay, true, pkts)
			// ERLE per 100 ms window; convergence: the start of the first
			// window from which every later one is 20 dB down.
			conv := -1.0
			worst := math.Inf(1)
			for w := 0.0; w+0.1 <= roomSeconds-0.1; w += 0.1 {
				e := level(on.echo, w, aectest.VoiceHz) - level(on.out, w, aectest.VoiceHz)
				if e < 20 {
					conv = -1
				} else if conv < 0 {
					conv = w
				}
				if w >= 2 {
					worst = math.Min(worst, e)
				}
			}
			var loss float64
			for w := visitorFrom + 0.1; w+0.1 <= roomSeconds-0.1; w += 0.1 {
				loss = math.Max(loss, level(on.near, w, aectest.VisitorHz)-level(on.out, w, aectest.VisitorHz))
			}
			t.Logf("%v: echo %.1f dBFS; sent without cancellation %.1f dBFS, with %.1f dBFS (1.5 s) / %.1f dBFS (3.5 s, double talk); "+
				"ERLE >= 20 dB from %.1f s, worst after 2 s %.1f dB; visitor's worst loss %.1f dB; %+v",
				delay, echoLvl, backOff, level(on.out, 1.5, aectest.VoiceHz), level(on.out, 3.5, aectest.VoiceHz), conv, worst, loss, on.stats)
			if conv < 0 || conv > 2 {
				t.Errorf("echo not 20 dB down for good within 2 s (from %.1f s)", conv)
			}
			if loss > 6 {
				t.Errorf("visitor lost %.1f dB", loss)
			}
			if on.stats.Frames < int64(roomSeconds*100)-10 {
				t.Errorf("processed %d frames", on.stats.Frames)
			}
		})
	}
}

// speechVoice encodes a speech-like DP voice (aectest.Speech) as the DP
// would send it.
func speechVoice(t *testing.T, n int) []*rtp.Packet {
	t.Helper()
	enc, err := opus.NewEncoder(48000, 1, opus.VoIP)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pcm := aectest.ToInt16(aectest.Speech(n*960, 7, 0.5))
	var out []*rtp.Packet
	for i := 0; i < n; i++ {
		buf := make([]byte, 1500)
		k, err := enc.Encode(pcm[i*960:(i+1)*960], buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i),
			Timestamp: uint32(i * 960), SSRC: 2}, Payload: buf[:k]})
	}
	return out
}

func power(x []int16) float64 {
	var e float64
	for _, v := range x {
		f := float64(v) / 32768
		e += f * f
	}
	return e / float64(max(len(x), 1))
}

// A speech-like DP voice through the same path: its envelope and wide
// spectrum make the delay measurable, and it is measured (the device
// queue plus the acoustic delay); the echo is 20 dB down within 2 s.
func TestEchoDelayEstimatedThroughPlayerAndMicrophone(t *testing.T) {
	if testing.Short() {
		t.Skip("real ALSA player and Opus encoder")
	}
	pkts := speechVoice(t, int(roomSeconds*50)+50)
	for _, delay := range []time.Duration{20 * time.Millisecond, 60 * time.Millisecond, 120 * time.Millisecond} {
		t.Run(fmt.Sprint(delay), func(t *testing.T) {
			on := runRoom(t, delay, true, pkts)
			// ERLE over 500 ms windows the DP speaks in (energy ratio);
			// convergence: the end of the first window from which all
			// are 20 dB down, up to the visitor's entry.
			const w = 24000
			conv := -1.0
			for s := 0; s+w <= int(visitorFrom*48000); s += 4800 {
				pe := power(on.echo[s : s+w])
				if pe < 1e-6 {
					continue
				}
				e := 10 * math.Log10(pe/math.Max(power(on.out[s:s+w]), 1e-12))
				if e < 20 {
					conv = -1
				} else if conv < 0 {
					conv = float64(s+w) / 48000
				}
			}
			erle := 10 * math.Log10(power(on.echo[48000:2*48000+24000])/power(on.out[48000:2*48000+24000]))
			t.Logf("%v: ERLE %.1f dB (1-2.5 s), 20 dB down for good from %.1f s; %+v", delay, erle, conv, on.stats)
			if conv < 0 || conv > 2 {
				t.Errorf("echo not 20 dB down for good within 2 s (from %.1f s)", conv)
			}
			if !on.stats.Estimated || on.stats.DelayMS < float64(delay.Milliseconds()) || on.stats.DelayMS > float64(delay.Milliseconds())+60 {
				t.Errorf("delay %.1f ms (estimated %v), want the acoustic %v plus the queue", on.stats.DelayMS, on.stats.Estimated, delay)
			}
		})
	}
}
