package dpsim

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/vp8"
)

// Accounting reads the kiosk's tracks and writes what it measures into
// Video and Audio (VP8 frames with their size, Opus packets, the dominant
// frequency, the echo of VoiceHz and the level). It is the one
// implementation of that analysis: the kioskd.dp.v1 server uses it for
// its sessions, and dpsim's LiveKit mode (dpsim/lkdp) for its rooms.
type Accounting struct {
	// Mu guards Video and Audio; Notify (may be nil) is called with Mu
	// held after every change a reader may wait for.
	Mu     *sync.Mutex
	Video  *VideoStats
	Audio  *AudioStats
	Notify func()
	// VoiceHz is the DP's own voice: its band is the echo measured.
	VoiceHz float64
	// Window is how much of the kiosk's most recent audio is analysed.
	Window time.Duration
	// NotThePicture (may be nil) says that a keyframe of that size is not
	// the kiosk's picture (an SFU's blank frames): it is counted, but its
	// size is not taken as the video's.
	NotThePicture func(width, height int) bool
	Log           *slog.Logger
}

// NewAudioStats is the AudioStats of a session that has received nothing:
// the levels at the floor, not 0 dBFS.
func NewAudioStats() AudioStats {
	return AudioStats{EchoDBFS: analysis.MinDBFS, LevelDBFS: analysis.MinDBFS}
}

func (a Accounting) notify() {
	if a.Notify != nil {
		a.Notify()
	}
}

// VideoTrack reads a video track until it ends. writeRTCP sends a
// picture loss indication to the track's sender (nil: none) until a
// keyframe arrives: the frame size is in it.
func (a Accounting) VideoTrack(tr *webrtc.TrackRemote, writeRTCP func([]rtcp.Packet) error) {
	codec := tr.Codec().MimeType
	isVP8 := strings.EqualFold(codec, webrtc.MimeTypeVP8)
	a.Mu.Lock()
	a.Video.Codec = codec
	a.Mu.Unlock()
	var asm vp8.Assembler
	var dropped uint64
	var lastPLI, lastFrame time.Time
	haveKey := false
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		var frame []byte
		if isVP8 {
			frame, _ = asm.Push(pkt)
		}
		w, h, key := vp8.KeyframeSize(frame)
		a.Mu.Lock()
		v := a.Video
		v.Packets++
		v.Dropped += int64(asm.Dropped - dropped)
		dropped = asm.Dropped
		if frame != nil {
			v.Frames++
			now := time.Now()
			if !lastFrame.IsZero() {
				v.MaxGapMS = max(v.MaxGapMS, now.Sub(lastFrame).Milliseconds())
			}
			lastFrame = now
			if key {
				v.Keyframes++
				if a.NotThePicture == nil || !a.NotThePicture(w, h) {
					v.Width, v.Height = w, h
				}
			}
			a.notify()
		}
		a.Mu.Unlock()
		haveKey = haveKey || key
		// Ask for a keyframe until one arrives: the size is in it.
		if isVP8 && !haveKey && writeRTCP != nil && time.Since(lastPLI) > time.Second {
			lastPLI = time.Now()
			_ = writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
		}
	}
}

// AudioTrack reads an audio track until it ends, decoding Opus and
// analysing the last Window of it every half window.
func (a Accounting) AudioTrack(tr *webrtc.TrackRemote) {
	const rate = 48000
	codec := tr.Codec().MimeType
	a.Mu.Lock()
	a.Audio.Codec = codec
	a.Mu.Unlock()
	var dec *opus.Decoder
	if strings.EqualFold(codec, webrtc.MimeTypeOpus) {
		d, err := opus.NewDecoder(rate, 1)
		if err != nil {
			if a.Log != nil {
				a.Log.Error("opus decoder", "err", err)
			}
		} else {
			dec = d
			defer dec.Close()
		}
	}
	window := int(a.Window.Seconds() * rate)
	ring := analysis.NewRing(window)
	pcm := make([]int16, opus.MaxFrameSamples(rate))
	var scratch []int16
	since := 0
	first := true
	var lastSeq uint16
	haveSeq := false
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		lost := 0
		if haveSeq {
			d := pkt.SequenceNumber - lastSeq
			if d == 0 || d > 0x8000 { // duplicate or late: already concealed
				continue
			}
			lost = int(d) - 1
		}
		haveSeq, lastSeq = true, pkt.SequenceNumber
		var decodeErr, recovered bool
		if dec != nil {
			recovered, decodeErr = decodeAudio(dec, pkt.Payload, lost, pcm, func(p []int16) {
				ring.Write(p)
				since += len(p)
			})
		}
		analyse := dec != nil && since >= window/2 && ring.Len() >= min(window, rate/2)
		var hz, echo, level float64
		var winMS int
		if analyse {
			since = 0
			scratch = ring.Samples(scratch[:0])
			// The voice's band (±10 %), not its exact frequency: the
			// echo of a tone whose phase jumps (the kiosk's jitter buffer
			// concealing a late packet, a sound card's xrun) keeps its
			// energy there but reads low at the exact frequency.
			hz, echo = analysis.DominantHzAndBandDBFS(scratch, rate, 0.9*a.VoiceHz, 1.1*a.VoiceHz)
			level = analysis.RMSDBFS(scratch)
			winMS = len(scratch) * 1000 / rate
		}
		a.Mu.Lock()
		au := a.Audio
		au.Packets++
		au.Lost += int64(lost)
		if recovered {
			au.FECRecovered++
		}
		if decodeErr {
			au.DecodeErrors++
		}
		if analyse {
			au.DominantHz, au.EchoDBFS, au.LevelDBFS, au.WindowMS = hz, echo, level, winMS
		}
		if first || analyse {
			a.notify()
		}
		a.Mu.Unlock()
		first = false
	}
}

// decodeAudio decodes a packet that came after lost missing ones and
// hands write what it decoded, in order: the missing frames (at most 5),
// concealed, except the last one, which comes back from the packet's
// in-band FEC when it carries some (as a browser's NetEq does it), then
// the packet's own frame. It says whether a frame came back from FEC and
// whether libopus refused the packet.
func decodeAudio(dec *opus.Decoder, payload []byte, lost int, pcm []int16, write func([]int16)) (recovered, decodeErr bool) {
	conceal := min(lost, 5)
	fec := lost > 0 && lost <= 5 && opus.HasFEC(payload)
	if fec {
		conceal--
	}
	for range conceal {
		if n, err := dec.DecodeLost(pcm); err == nil {
			write(pcm[:n])
		}
	}
	if fec {
		if n, err := dec.DecodeFEC(payload, pcm); err == nil {
			write(pcm[:n])
			recovered = true
		}
	}
	n, err := dec.Decode(payload, pcm)
	if err != nil {
		return recovered, true
	}
	write(pcm[:n])
	return recovered, false
}
