package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/audio"
	"github.com/pion/mediadevices/pkg/prop"
	"github.com/pion/mediadevices/pkg/wave"
	"github.com/pion/mediadevices/pkg/wave/mixer"

	"github.com/kioskd/kioskd/av/opus"
)

// opusParams builds the microphone's Opus encoder for mediadevices:
// libopus through av/opus, VoIP, 20 ms frames, with in-band FEC on. It
// replaces mediadevices' own Opus encoder, which has no control for FEC or
// the expected loss: libopus puts FEC into its packets only when told a
// loss to expect, and congestion control tells it the loss it measures
// (SetExpectedLoss), so a clean link gets the same stream as without FEC.
type opusParams struct {
	codec.BaseParams
}

// opusFrame is the microphone's Opus frame (what mediadevices' encoder
// used, and WebRTC's usual ptime).
const opusFrame = 20 * time.Millisecond

// RTPCodec is Opus at 48 kHz, in-band FEC announced (useinbandfec=1).
func (p *opusParams) RTPCodec() *codec.RTPCodec {
	c := codec.NewRTPOpusCodec(48000)
	c.Latency = opusFrame
	return c
}

// BuildAudioEncoder builds the encoder for the microphone's format.
func (p *opusParams) BuildAudioEncoder(r audio.Reader, property prop.Media) (codec.ReadCloser, error) {
	channels, rate := property.ChannelCount, property.SampleRate
	if channels < 1 {
		channels = 1
	}
	if rate == 0 {
		return nil, errors.New("opus: the microphone's sample rate is unknown")
	}
	enc, err := opus.NewEncoder(rate, channels, opus.VoIP)
	if err != nil {
		return nil, err
	}
	bitrate := p.BitRate
	if bitrate == 0 {
		bitrate = 32000
	}
	for _, err := range []error{enc.SetBitrate(bitrate), enc.SetInbandFEC(true), enc.SetPacketLossPerc(0)} {
		if err != nil {
			enc.Close()
			return nil, err
		}
	}
	frame := int(opusFrame * time.Duration(rate) / time.Second)
	return &opusEncoder{
		enc:      enc,
		channels: channels,
		reader:   audio.NewChannelMixer(channels, &mixer.MonoMixer{})(audio.NewBuffer(frame)(r)),
		out:      make([]byte, 1500),
	}, nil
}

// opusEncoder is one microphone stream's encoder: codec.ReadCloser, and
// its own controller (codec.BitRateController, and SetExpectedLoss).
type opusEncoder struct {
	reader   audio.Reader
	channels int

	mu   sync.Mutex // the encoder is driven by Read and by the controls
	enc  *opus.Encoder
	out  []byte
	pcm  []int16 // float input converted
	loss int     // the expected loss last set, percent
}

func (e *opusEncoder) Read() ([]byte, func(), error) {
	buf, _, err := e.reader.Read()
	if err != nil {
		return nil, func() {}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return nil, func() {}, io.EOF
	}
	var pcm []int16
	switch b := buf.(type) {
	case *wave.Int16Interleaved:
		pcm = b.Data[:b.ChunkInfo().Len*e.channels]
	case *wave.Float32Interleaved:
		n := b.ChunkInfo().Len * e.channels
		e.pcm = e.pcm[:0]
		for _, s := range b.Data[:n] {
			e.pcm = append(e.pcm, int16(math.Round(float64(max(-1, min(1, s)))*math.MaxInt16)))
		}
		pcm = e.pcm
	default:
		return nil, func() {}, fmt.Errorf("opus: audio of type %T", buf)
	}
	n, err := e.enc.Encode(pcm, e.out)
	if err != nil {
		return nil, func() {}, err
	}
	return append([]byte(nil), e.out[:n]...), func() {}, nil
}

// SetBitRate sets the Opus bitrate, bits/s.
func (e *opusEncoder) SetBitRate(bps int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return opus.ErrClosed
	}
	return e.enc.SetBitrate(bps)
}

// SetExpectedLoss tells libopus the packet loss to expect on the path
// (0-100 %): above 0, each packet carries the frame before it as in-band
// FEC, sized by the loss, within the same bitrate.
func (e *opusEncoder) SetExpectedLoss(percent int) error {
	percent = max(0, min(100, percent))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return opus.ErrClosed
	}
	if percent == e.loss {
		return nil
	}
	if err := e.enc.SetPacketLossPerc(percent); err != nil {
		return err
	}
	e.loss = percent
	return nil
}

// ExpectedLoss is the loss last set with SetExpectedLoss, percent.
func (e *opusEncoder) ExpectedLoss() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loss
}

func (e *opusEncoder) Controller() codec.EncoderController { return e }

func (e *opusEncoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.enc == nil {
		return nil
	}
	err := e.enc.Close()
	e.enc = nil
	return err
}
