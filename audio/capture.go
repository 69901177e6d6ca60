package audio

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
	"github.com/google/uuid"
	"github.com/pion/mediadevices/pkg/wave"
)

// MicrophoneConfig selects and tunes a capture stream.
type MicrophoneConfig struct {
	// PCM is the ALSA PCM ("default", "hw:1,0", "dsnoop:CARD=Mic", any
	// name from asound.conf); "" is "default".
	PCM string
	// ReadTimeout: a Read that gets no samples for this long fails with
	// ErrTimeout (a lost or hung device). 0: 1 s.
	ReadTimeout time.Duration
	// Buffer is how much audio is kept while nobody reads (before the
	// session binds the track); older audio is dropped. 0: 200 ms.
	Buffer time.Duration
	// Pace releases chunks no faster than real time, and holds the PCM
	// back rather than dropping audio when nobody reads. A sound card
	// paces itself; ALSA `file` and `null` PCMs (labs, tests) deliver as
	// fast as they are read, which would send audio faster than real time.
	Pace bool
	Log  *slog.Logger
}

// CaptureStats counts what a microphone delivered.
type CaptureStats struct {
	Chunks  int64 // 20 ms chunks returned by Read
	Frames  int64 // samples received from ALSA
	Dropped int64 // samples dropped because nobody read them in time
}

// Microphone is an open ALSA capture stream of 48 kHz mono int16 in 20 ms
// chunks. It implements mediadevices.AudioSource.
type Microphone struct {
	id     string
	pcm    string
	log    *slog.Logger
	ctx    *malgo.AllocatedContext
	dev    *malgo.Device
	period time.Duration
	tmo    time.Duration
	pace   bool
	next   time.Time // when the next chunk may be released (pace)

	mu      sync.Mutex
	fifo    []int16 // ring storage
	r, n    int     // read position and fill of the ring
	stats   CaptureStats
	stopErr error
	closed  bool

	data   chan struct{} // a chunk may be ready (cap 1)
	space  chan struct{} // room was made (cap 1)
	done   chan struct{} // closed by Close
	closeO sync.Once
}

// OpenMicrophone opens and starts capture on cfg.PCM. Errors wrap
// ErrMissing (PCM undefined, device or input file absent), ErrBusy,
// ErrDenied, ErrUnusable or ErrNoALSA.
func OpenMicrophone(cfg MicrophoneConfig) (*Microphone, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = time.Second
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 200 * time.Millisecond
	}
	pcm := PCMName(cfg.PCM)
	m := &Microphone{
		id:     "alsa-capture-" + pcm + "-" + uuid.NewString()[:8],
		pcm:    pcm,
		log:    cfg.Log,
		period: periodMs * time.Millisecond,
		tmo:    cfg.ReadTimeout,
		pace:   cfg.Pace,
		fifo:   make([]int16, max(int(cfg.Buffer.Seconds()*SampleRate), 2*ChunkFrames)),
		data:   make(chan struct{}, 1),
		space:  make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	dc := malgo.DefaultDeviceConfig(malgo.Capture)
	dc.Capture.Format = malgo.FormatS16
	dc.Capture.Channels = 1
	dc.SampleRate = SampleRate
	dc.PeriodSizeInMilliseconds = periodMs
	dc.Periods = 3
	dc.PerformanceProfile = malgo.LowLatency
	ctx, dev, err := openDevice("microphone", pcm, cfg.Log, dc, malgo.DeviceCallbacks{Data: m.onData, Stop: m.onStop})
	if err != nil {
		return nil, err
	}
	m.ctx, m.dev = ctx, dev
	m.log.Debug("microphone open", "pcm", pcm, "rate", dev.SampleRate(), "channels", dev.CaptureChannels())
	return m, nil
}

// onData runs on miniaudio's capture thread with native-endian S16 mono.
func (m *Microphone) onData(_, in []byte, frames uint32) {
	n := int(frames)
	if len(in) < 2*n {
		n = len(in) / 2
	}
	samples := unsafe.Slice((*int16)(unsafe.Pointer(unsafe.SliceData(in))), n)
	for len(samples) > 0 {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return
		}
		free := len(m.fifo) - m.n
		k := min(free, len(samples))
		for i := 0; i < k; i++ {
			m.fifo[(m.r+m.n+i)%len(m.fifo)] = samples[i]
		}
		m.n += k
		m.stats.Frames += int64(k)
		m.mu.Unlock()
		samples = samples[k:]
		signal(m.data)
		if len(samples) == 0 {
			return
		}
		// Full: nobody is reading. Wait up to half a period for the
		// reader (harmless for a sound card, which has more periods
		// queued; it paces unpaced PCMs such as ALSA's `file` instead
		// of spinning), then drop the oldest audio: the newest is what
		// the DP should hear.
		// With Pace the PCM does not pace itself: hold it back instead
		// (dropping would cut the audio into pieces).
		var expired <-chan time.Time
		var t *time.Timer
		if !m.pace {
			t = time.NewTimer(m.period / 2)
			expired = t.C
		}
		timedOut := false
		select {
		case <-m.space:
		case <-m.done:
		case <-expired:
			timedOut = true
		}
		if t != nil {
			t.Stop()
		}
		if !timedOut {
			continue // room was made, or closed (checked at the top)
		}
		m.mu.Lock()
		drop := min(m.n, len(samples))
		m.r = (m.r + drop) % len(m.fifo)
		m.n -= drop
		m.stats.Dropped += int64(drop)
		m.mu.Unlock()
	}
}

// onStop runs when the device stops by itself (not on Close: malgo drops
// the callback before uninit).
func (m *Microphone) onStop() {
	m.mu.Lock()
	if !m.closed && m.stopErr == nil {
		m.stopErr = fmt.Errorf("%w: microphone %q", ErrStopped, m.pcm)
	}
	m.mu.Unlock()
	signal(m.data)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// ID names the stream for mediadevices.
func (m *Microphone) ID() string { return m.id }

// PCM is the ALSA PCM this microphone captures from.
func (m *Microphone) PCM() string { return m.pcm }

// Read returns the next 20 ms chunk. It fails with ErrTimeout when the
// device delivers nothing for ReadTimeout, ErrStopped when it stopped, and
// io.EOF after Close.
func (m *Microphone) Read() (wave.Audio, func(), error) {
	if m.pace {
		now := time.Now()
		if m.next.IsZero() || now.Sub(m.next) > ChunkDuration {
			m.next = now // first chunk, or fell behind: no burst to catch up
		}
		if d := m.next.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-m.done:
				t.Stop()
			}
		}
		m.next = m.next.Add(ChunkDuration)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, func() {}, io.EOF
		}
		if m.n >= ChunkFrames {
			a := wave.NewInt16Interleaved(wave.ChunkInfo{Len: ChunkFrames, Channels: 1, SamplingRate: SampleRate})
			for i := range a.Data {
				a.Data[i] = m.fifo[(m.r+i)%len(m.fifo)]
			}
			m.r = (m.r + ChunkFrames) % len(m.fifo)
			m.n -= ChunkFrames
			m.stats.Chunks++
			m.mu.Unlock()
			signal(m.space)
			return a, func() {}, nil
		}
		if err := m.stopErr; err != nil {
			m.mu.Unlock()
			return nil, func() {}, err
		}
		m.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(m.tmo)
		}
		select {
		case <-m.data:
		case <-m.done:
		case <-timer.C:
			return nil, func() {}, fmt.Errorf("%w: microphone %q, %v", ErrTimeout, m.pcm, m.tmo)
		}
	}
}

// Stats reports the counters so far.
func (m *Microphone) Stats() CaptureStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Close stops capture and releases the device. Safe to call more than once.
func (m *Microphone) Close() error {
	m.closeO.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		close(m.done) // unblocks a waiting callback before uninit joins its thread
		m.dev.Uninit()
		freeContext(m.ctx)
		m.log.Debug("microphone closed", "pcm", m.pcm)
	})
	return nil
}
