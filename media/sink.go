package media

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/vp8"
)

// SinkConfig says where the Digital Person's voice goes.
type SinkConfig struct {
	// Speaker is the ALSA PCM to play on: default | none | PCM name.
	Speaker string
	// JitterTarget is the playout buffer before playing; 0: 60 ms.
	JitterTarget time.Duration
	// SpeakerRetry is how long to wait before reopening a speaker that
	// failed to open or stopped; 0: 5 s.
	SpeakerRetry time.Duration
	// EchoReference, if set, receives every block the speaker plays: the
	// far end the microphone's echo canceller removes (the Source's
	// WithEchoReference).
	EchoReference *aec.Reference
}

// SinkStats is what the DP sent and what the speaker did, for status and
// metrics.
type SinkStats struct {
	VideoFrames    uint64 // complete VP8 frames received
	VideoKeyframes uint64
	VideoDropped   uint64 // frames lost to gaps or bad input
	Width, Height  int    // from the latest keyframe
	AudioPackets   uint64 // Opus packets received
	AudioLost      uint64 // packets missing in sequence (concealed up to 100 ms a gap)
	AudioDecodeErr uint64 // packets that did not decode
	Speaker        string // PCM in use ("" when none is open)
	SpeakerUp      bool
	Played         int64 // samples of voice played (48 kHz)
	Underruns      int64 // bursts in which the speaker ran dry
	SilenceSamples int64 // samples of silence played
	Dropped        int64 // samples dropped because the playout buffer overflowed
	// RTP payload bytes received, by kind (for the receive bitrate).
	VideoBytes, AudioBytes uint64
}

// Sink takes the DP's tracks: Opus voice is decoded (libopus, through
// av/opus) and played on the speaker through a jitter buffer; VP8 video
// is assembled into frames (av/vp8) and counted with its size, never
// decoded. It implements session.MediaSink.
type Sink struct {
	cfg SinkConfig
	log *slog.Logger

	rxVideo, rxAudio atomic.Uint64 // payload bytes read (SinkStats.VideoBytes, AudioBytes)

	mu         sync.Mutex
	st         SinkStats
	player     *audio.Player
	playerBase audio.PlayerStats // counters of players already closed
	nextOpen   time.Time
	closed     bool
	// speakerDown: the last open failed or the speaker stopped, and it
	// has not opened since (Health).
	speakerDown bool
}

// NewSink returns a sink; the speaker is opened with the first voice packet.
func NewSink(cfg SinkConfig, log *slog.Logger) *Sink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SpeakerRetry <= 0 {
		cfg.SpeakerRetry = 5 * time.Second
	}
	return &Sink{cfg: cfg, log: log}
}

// HandleTrack consumes one remote track until it ends or ctx is done.
func (s *Sink) HandleTrack(ctx context.Context, track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	stop := context.AfterFunc(ctx, func() { _ = track.SetReadDeadline(time.Now()) })
	defer stop()
	rx := &s.rxVideo
	if track.Kind() == webrtc.RTPCodecTypeAudio {
		rx = &s.rxAudio
	}
	read := func() (*rtp.Packet, error) {
		p, _, err := track.ReadRTP()
		if err == nil {
			rx.Add(uint64(len(p.Payload)))
		}
		return p, err
	}
	mime := strings.ToLower(track.Codec().MimeType)
	switch {
	case track.Kind() == webrtc.RTPCodecTypeAudio && mime == strings.ToLower(webrtc.MimeTypeOpus):
		s.handleAudio(ctx, read)
	case track.Kind() == webrtc.RTPCodecTypeVideo && mime == strings.ToLower(webrtc.MimeTypeVP8):
		var pli func()
		if receiver != nil && receiver.Transport() != nil {
			ssrc := uint32(track.SSRC())
			pli = func() {
				_, _ = receiver.Transport().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
			}
		}
		s.handleVideo(ctx, read, pli)
	default:
		s.log.Warn("ignoring remote track", "kind", track.Kind().String(), "codec", mime)
		for ctx.Err() == nil {
			if _, err := read(); err != nil {
				return
			}
		}
	}
}

// handleVideo counts frames and reads the size of keyframes. Until the
// first keyframe arrives (the one the stream began with may have been
// sent before this side was ready), it asks for one with a PLI, at most
// once a second.
func (s *Sink) handleVideo(ctx context.Context, read func() (*rtp.Packet, error), pli func()) {
	var a vp8.Assembler
	var frames, keys, dropped uint64
	var lastPLI time.Time
	for ctx.Err() == nil {
		pkt, err := read()
		if err != nil {
			return
		}
		if pli != nil && a.Keyframes == 0 && time.Since(lastPLI) >= time.Second {
			lastPLI = time.Now()
			pli()
		}
		frame, ok := a.Push(pkt)
		s.mu.Lock()
		s.st.VideoFrames += a.Frames - frames
		s.st.VideoKeyframes += a.Keyframes - keys
		s.st.VideoDropped += a.Dropped - dropped
		if ok {
			if w, h, key := vp8.KeyframeSize(frame); key {
				s.st.Width, s.st.Height = w, h
			}
		}
		s.mu.Unlock()
		frames, keys, dropped = a.Frames, a.Keyframes, a.Dropped
	}
}

// maxConceal bounds the packet loss concealment of one gap (5 x 20 ms).
const maxConceal = 5

// handleAudio decodes the DP's Opus voice and plays it.
func (s *Sink) handleAudio(ctx context.Context, read func() (*rtp.Packet, error)) {
	play := s.cfg.Speaker != "none"
	var dec *opus.Decoder
	if play {
		var err error
		if dec, err = opus.NewDecoder(audio.SampleRate, 1); err != nil {
			s.log.Error("opus decoder", "error", err.Error())
			play = false
		} else {
			defer dec.Close()
		}
	}
	pcm := make([]int16, opus.MaxFrameSamples(audio.SampleRate))
	var lastSeq uint16
	haveSeq := false
	for ctx.Err() == nil {
		pkt, err := read()
		if err != nil {
			return
		}
		lost := 0
		if haveSeq {
			d := int16(pkt.SequenceNumber - lastSeq)
			if d <= 0 {
				continue // duplicate or late: already concealed
			}
			lost = int(d) - 1
		}
		haveSeq, lastSeq = true, pkt.SequenceNumber
		s.mu.Lock()
		s.st.AudioPackets++
		s.st.AudioLost += uint64(lost)
		s.mu.Unlock()
		if !play || len(pkt.Payload) == 0 {
			continue
		}
		p := s.speaker()
		for i := 0; i < min(lost, maxConceal); i++ {
			if n, err := dec.DecodeLost(pcm); err == nil && p != nil {
				s.write(p, pcm[:n])
			}
		}
		n, err := dec.Decode(pkt.Payload, pcm)
		if err != nil {
			s.mu.Lock()
			s.st.AudioDecodeErr++
			s.mu.Unlock()
			continue
		}
		if p != nil {
			s.write(p, pcm[:n])
		}
	}
}

// speaker returns the open player, opening it if it is time to try.
func (s *Sink) speaker() *audio.Player {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.player != nil || s.closed || time.Now().Before(s.nextOpen) {
		return s.player
	}
	pc := audio.PlayerConfig{PCM: s.cfg.Speaker, Target: s.cfg.JitterTarget, Log: s.log}
	if s.cfg.EchoReference != nil {
		pc.Tap = s.cfg.EchoReference.Write
	}
	p, err := audio.OpenPlayer(pc)
	if err != nil {
		s.nextOpen = time.Now().Add(s.cfg.SpeakerRetry)
		s.speakerDown = true
		s.log.Warn("speaker not available; the DP's voice is not played", "speaker", audio.PCMName(s.cfg.Speaker),
			"error", err.Error(), "retry_in", s.cfg.SpeakerRetry.String())
		return nil
	}
	s.log.Info("speaker open", "speaker", p.PCM())
	s.player, s.speakerDown = p, false
	return p
}

func (s *Sink) write(p *audio.Player, pcm []int16) {
	if err := p.Write(pcm); err != nil && errors.Is(err, audio.ErrStopped) {
		s.mu.Lock()
		if s.player == p {
			s.dropPlayer()
			s.nextOpen = time.Now().Add(s.cfg.SpeakerRetry)
			s.speakerDown = true
			s.log.Warn("speaker stopped; reopening later", "error", err.Error())
		}
		s.mu.Unlock()
	}
}

// dropPlayer closes the player keeping its counters. s.mu held.
func (s *Sink) dropPlayer() {
	if s.player == nil {
		return
	}
	ps := s.player.Stats()
	s.playerBase.Played += ps.Played
	s.playerBase.Underruns += ps.Underruns
	s.playerBase.Silence += ps.Silence
	s.playerBase.Dropped += ps.Dropped
	_ = s.player.Close()
	s.player = nil
}

// Stats returns the counters so far.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.VideoBytes, st.AudioBytes = s.rxVideo.Load(), s.rxAudio.Load()
	st.Played, st.Underruns, st.SilenceSamples, st.Dropped = s.playerBase.Played, s.playerBase.Underruns, s.playerBase.Silence, s.playerBase.Dropped
	if s.player != nil {
		ps := s.player.Stats()
		st.Speaker, st.SpeakerUp = s.player.PCM(), true
		st.Played += ps.Played
		st.Underruns += ps.Underruns
		st.SilenceSamples += ps.Silence
		st.Dropped += ps.Dropped
	}
	return st
}

// Close releases the speaker. Tracks still handled stop playing.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.dropPlayer()
	return nil
}
