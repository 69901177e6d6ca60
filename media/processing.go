package media

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/wave"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/audio/aec"
)

// Processing is what is done to the microphone before it is encoded
// (docs/BEHAVIOUR.md section 7): echo cancellation against what the
// speaker plays, noise suppression, automatic gain.
type Processing struct {
	// EchoCancellation needs EchoReference: the Sink's
	// SinkConfig.EchoReference, fed by the speaker.
	EchoCancellation bool
	NoiseSuppression bool
	AutoGain         bool
	EchoReference    *aec.Reference
	// Tuning beyond the defaults (tests, labs); the switches above win.
	Options aec.Options
}

func (p Processing) options(log *slog.Logger) aec.Options {
	o := p.Options
	o.EchoCancellation = p.EchoCancellation && p.EchoReference != nil
	o.NoiseSuppression = p.NoiseSuppression
	o.AutoGain = p.AutoGain
	if o.Log == nil {
		o.Log = log
	}
	return o
}

func (p Processing) enabled() bool {
	return (p.EchoCancellation && p.EchoReference != nil) || p.NoiseSuppression || p.AutoGain
}

// captureStats is what audio.Microphone reports: with it the capture time
// of a chunk is known to within a device period.
type captureStats interface {
	Stats() audio.CaptureStats
}

// processedMic runs a microphone's 48 kHz mono chunks through an
// aec.Processor. Its reader is the track's single reader goroutine.
type processedMic struct {
	src   mediadevices.AudioSource
	p     *aec.Processor
	ref   *aec.Reference
	now   func() time.Duration
	stats captureStats
	log   *slog.Logger

	mu      sync.Mutex // Read's processing against Close freeing the processor
	closed  bool
	skipped bool
	dropped int64 // the microphone's Dropped already passed on (Processor.Skip)
	started bool  // a chunk was processed
	once    sync.Once
}

// withProcessing wraps src when pr asks for anything; otherwise src.
func withProcessing(src mediadevices.AudioSource, pr Processing, log *slog.Logger) (mediadevices.AudioSource, error) {
	if !pr.enabled() {
		return src, nil
	}
	opt := pr.options(log)
	p, err := aec.NewProcessor(audio.SampleRate, pr.EchoReference, opt)
	if err != nil {
		return nil, err
	}
	m := &processedMic{src: src, p: p, ref: pr.EchoReference, log: log}
	m.now = func() time.Duration { return 0 }
	if m.ref != nil {
		m.now = m.ref.Now
	}
	if s, ok := src.(captureStats); ok {
		m.stats = s
	}
	log.Info("microphone processing", "echo_cancellation", opt.EchoCancellation,
		"noise_suppression", opt.NoiseSuppression, "auto_gain", opt.AutoGain)
	return m, nil
}

func (m *processedMic) ID() string { return m.src.ID() }

// Read returns the source's next chunk, processed in place.
func (m *processedMic) Read() (wave.Audio, func(), error) {
	a, release, err := m.src.Read()
	if err != nil {
		return a, release, err
	}
	// When the chunk's last sample was captured: now, less what the
	// microphone still holds after it.
	end := m.now()
	var dropped int64
	if m.stats != nil {
		st := m.stats.Stats()
		if buffered := st.Frames - st.Chunks*int64(audio.ChunkFrames) - st.Dropped; buffered > 0 {
			end -= time.Duration(buffered * int64(time.Second) / audio.SampleRate)
		}
		dropped = st.Dropped
	}
	pcm, ok := a.(*wave.Int16Interleaved)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		release()
		return nil, func() {}, io.EOF
	}
	if !ok || pcm.Size.Channels != 1 || pcm.Size.SamplingRate != audio.SampleRate {
		if !m.skipped {
			m.skipped = true
			m.log.Warn("microphone processing skipped: not 48 kHz mono 16-bit", "chunk", a.ChunkInfo())
		}
		return a, release, nil
	}
	// Audio the microphone dropped since the last chunk (this reader fell
	// behind: a loaded board) came before this chunk: the processor skips
	// it on its timeline, else the loss would read as a jump.
	// (What it dropped before the first chunk was read, while no session
	// took its audio, is no gap in what is processed.)
	if dropped > m.dropped && m.started {
		m.p.Skip(int(dropped - m.dropped))
	}
	m.dropped, m.started = max(m.dropped, dropped), true
	m.p.Process(pcm.Data, end)
	return a, release, nil
}

// Close closes the source, then frees the processor once no Read uses it.
func (m *processedMic) Close() error {
	err := m.src.Close()
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		st := m.p.Stats()
		m.p.Close()
		m.mu.Unlock()
		if st.Frames > 0 {
			m.log.Info("microphone processing stopped", "audio_s", st.Audio.Seconds(), "delay_ms", st.DelayMS,
				"delay_estimated", st.Estimated, "filter_from_ms", st.FilterMS, "realigns", st.Realigns, "timeline_jumps", st.Resyncs, "far_end_late_ms", st.LateMS,
				"mic_dropped_ms", float64(st.Skipped)*1000/audio.SampleRate, "cpu_per_s_ms", cpuPerSecond(st))
		}
	})
	return err
}

// ProcessingStats reports the processor's counters.
func (m *processedMic) ProcessingStats() aec.Stats { return m.p.Stats() }

func cpuPerSecond(st aec.Stats) float64 {
	if st.Audio <= 0 {
		return 0
	}
	return float64(st.CPU.Microseconds()) / 1000 / st.Audio.Seconds()
}
