// Package opus is a small cgo wrapper of libopus: a decoder (with packet
// loss concealment) for the Digital Person's voice on the kiosk and for
// dpsim's analysis of what a kiosk sends, and an encoder for tests and
// tools. It links the system libopus through pkg-config.
//
// A Decoder or Encoder is not safe for concurrent use; give each stream its
// own. Close releases the C state (a runtime cleanup releases it too if
// Close was forgotten, but call Close).
package opus

/*
#cgo pkg-config: opus
#include <opus.h>

static int kd_dec_last_duration(OpusDecoder *d, opus_int32 *out) {
	return opus_decoder_ctl(d, OPUS_GET_LAST_PACKET_DURATION(out));
}
static int kd_enc_set_bitrate(OpusEncoder *e, opus_int32 b) {
	return opus_encoder_ctl(e, OPUS_SET_BITRATE(b));
}
static int kd_enc_set_inband_fec(OpusEncoder *e, opus_int32 on) {
	return opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(on));
}
static int kd_enc_set_packet_loss_perc(OpusEncoder *e, opus_int32 p) {
	return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(p));
}
static int kd_enc_set_signal_voice(OpusEncoder *e) {
	return opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
}
// kd_has_lbrr is libopus 1.5's opus_packet_has_lbrr (Debian 12 has 1.3):
// whether the packet's first SILK frame carries the previous frame's
// in-band FEC (LBRR). The flag is the bit after the VAD flags of the
// frame's range-coded header, equiprobable and so the first byte's bit.
static int kd_has_lbrr(const unsigned char *p, opus_int32 len) {
	const unsigned char *frames[48];
	opus_int16 size[48];
	int nb_frames = 1, spf, lbrr;
	if (len < 1 || (p[0] >> 3) >= 16) // CELT only: no SILK, no LBRR
		return 0;
	spf = opus_packet_get_samples_per_frame(p, 48000);
	if (spf > 960)
		nb_frames = spf / 960;
	if (opus_packet_parse(p, len, NULL, frames, size, NULL) <= 0 || size[0] == 0)
		return 0;
	lbrr = (frames[0][0] >> (7 - nb_frames)) & 1;
	if (opus_packet_get_nb_channels(p) == 2)
		lbrr = lbrr || ((frames[0][0] >> (6 - 2 * nb_frames)) & 1);
	return lbrr;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Errors besides those of libopus (which are wrapped in *Error).
var (
	ErrClosed     = errors.New("opus: closed")
	ErrEmpty      = errors.New("opus: empty packet")
	ErrBufferSize = errors.New("opus: pcm buffer too small")
)

// Error is an error code of libopus.
type Error struct {
	Op   string
	Code int
}

func (e *Error) Error() string {
	return fmt.Sprintf("opus: %s: %s (%d)", e.Op, C.GoString(C.opus_strerror(C.int(e.Code))), e.Code)
}

func validRate(sampleRate int) bool {
	switch sampleRate {
	case 8000, 12000, 16000, 24000, 48000:
		return true
	}
	return false
}

// MaxFrameSamples is the longest Opus frame, 120 ms, in samples per channel
// at sampleRate. A pcm buffer of MaxFrameSamples*channels always suffices.
func MaxFrameSamples(sampleRate int) int { return sampleRate * 120 / 1000 }

// Decoder decodes one Opus stream to 16-bit interleaved PCM.
type Decoder struct {
	st         *C.OpusDecoder
	channels   int
	sampleRate int
	cleanup    runtime.Cleanup
}

// NewDecoder returns a decoder producing sampleRate Hz (8000, 12000, 16000,
// 24000 or 48000) with channels channels (1 or 2). Opus decodes any stream
// to any rate and channel count, so a stereo packet decodes to mono too.
func NewDecoder(sampleRate, channels int) (*Decoder, error) {
	if !validRate(sampleRate) {
		return nil, fmt.Errorf("opus: sample rate %d not one of 8000, 12000, 16000, 24000, 48000", sampleRate)
	}
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("opus: %d channels, want 1 or 2", channels)
	}
	var code C.int
	st := C.opus_decoder_create(C.opus_int32(sampleRate), C.int(channels), &code)
	if code != C.OPUS_OK || st == nil {
		return nil, &Error{Op: "decoder_create", Code: int(code)}
	}
	d := &Decoder{st: st, channels: channels, sampleRate: sampleRate}
	d.cleanup = runtime.AddCleanup(d, func(st *C.OpusDecoder) { C.opus_decoder_destroy(st) }, st)
	return d, nil
}

// Decode decodes one packet into pcm (interleaved, len(pcm) >= samples per
// channel * channels) and returns the samples per channel it wrote. A
// packet longer than pcm can hold is an error; MaxFrameSamples always fits.
func (d *Decoder) Decode(packet []byte, pcm []int16) (samplesPerChannel int, err error) {
	if d.st == nil {
		return 0, ErrClosed
	}
	if len(packet) == 0 {
		return 0, ErrEmpty
	}
	frame := len(pcm) / d.channels
	if frame == 0 {
		return 0, ErrBufferSize
	}
	n := C.opus_decode(d.st, (*C.uchar)(unsafe.Pointer(&packet[0])), C.opus_int32(len(packet)),
		(*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(frame), 0)
	runtime.KeepAlive(packet)
	runtime.KeepAlive(pcm)
	if n < 0 {
		if n == C.OPUS_BUFFER_TOO_SMALL {
			return 0, fmt.Errorf("%w: %d samples per channel", ErrBufferSize, frame)
		}
		return 0, &Error{Op: "decode", Code: int(n)}
	}
	return int(n), nil
}

// DecodeLost conceals one lost packet (packet loss concealment): it writes
// as many samples per channel as the last decoded packet had (20 ms before
// any packet), at most what pcm holds rounded down to whole 2.5 ms, and
// returns that count.
func (d *Decoder) DecodeLost(pcm []int16) (int, error) {
	if d.st == nil {
		return 0, ErrClosed
	}
	capacity := len(pcm) / d.channels
	step := d.sampleRate / 400 // 2.5 ms
	frame := d.sampleRate / 50 // 20 ms
	var last C.opus_int32
	if C.kd_dec_last_duration(d.st, &last) == C.OPUS_OK && last > 0 {
		frame = int(last)
	}
	if frame > capacity {
		frame = capacity / step * step
	}
	if frame == 0 {
		return 0, ErrBufferSize
	}
	n := C.opus_decode(d.st, nil, 0, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(frame), 0)
	runtime.KeepAlive(pcm)
	if n < 0 {
		return 0, &Error{Op: "decode (lost)", Code: int(n)}
	}
	return int(n), nil
}

// DecodeFEC decodes the frame before packet, lost, from the in-band FEC
// packet carries (see HasFEC), into pcm: as many samples per channel as
// the last decoded packet had (20 ms before any), within what pcm holds.
// Then decode packet itself with Decode. Without FEC in packet, libopus
// conceals the frame instead, as DecodeLost does.
func (d *Decoder) DecodeFEC(packet []byte, pcm []int16) (int, error) {
	if d.st == nil {
		return 0, ErrClosed
	}
	if len(packet) == 0 {
		return 0, ErrEmpty
	}
	frame := d.sampleRate / 50
	var last C.opus_int32
	if C.kd_dec_last_duration(d.st, &last) == C.OPUS_OK && last > 0 {
		frame = int(last)
	}
	if frame > len(pcm)/d.channels {
		return 0, fmt.Errorf("%w: %d samples per channel", ErrBufferSize, len(pcm)/d.channels)
	}
	n := C.opus_decode(d.st, (*C.uchar)(unsafe.Pointer(&packet[0])), C.opus_int32(len(packet)),
		(*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(frame), 1)
	runtime.KeepAlive(packet)
	runtime.KeepAlive(pcm)
	if n < 0 {
		return 0, &Error{Op: "decode (fec)", Code: int(n)}
	}
	return int(n), nil
}

// HasFEC says whether packet carries in-band FEC for the frame before it
// (an LBRR frame, which only SILK and hybrid packets have).
func HasFEC(packet []byte) bool {
	if len(packet) == 0 {
		return false
	}
	ok := C.kd_has_lbrr((*C.uchar)(unsafe.Pointer(&packet[0])), C.opus_int32(len(packet))) == 1
	runtime.KeepAlive(packet)
	return ok
}

// Close releases the decoder; it may be called more than once.
func (d *Decoder) Close() error {
	if d.st == nil {
		return nil
	}
	d.cleanup.Stop()
	C.opus_decoder_destroy(d.st)
	d.st = nil
	return nil
}

// Application says what an Encoder is tuned for.
type Application int

const (
	VoIP     Application = C.OPUS_APPLICATION_VOIP
	Audio    Application = C.OPUS_APPLICATION_AUDIO
	LowDelay Application = C.OPUS_APPLICATION_RESTRICTED_LOWDELAY
)

// Encoder encodes 16-bit interleaved PCM to Opus packets.
type Encoder struct {
	st       *C.OpusEncoder
	channels int
	cleanup  runtime.Cleanup
}

// NewEncoder returns an encoder for sampleRate Hz and channels channels.
func NewEncoder(sampleRate, channels int, app Application) (*Encoder, error) {
	if !validRate(sampleRate) {
		return nil, fmt.Errorf("opus: sample rate %d not one of 8000, 12000, 16000, 24000, 48000", sampleRate)
	}
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("opus: %d channels, want 1 or 2", channels)
	}
	var code C.int
	st := C.opus_encoder_create(C.opus_int32(sampleRate), C.int(channels), C.int(app), &code)
	if code != C.OPUS_OK || st == nil {
		return nil, &Error{Op: "encoder_create", Code: int(code)}
	}
	e := &Encoder{st: st, channels: channels}
	e.cleanup = runtime.AddCleanup(e, func(st *C.OpusEncoder) { C.opus_encoder_destroy(st) }, st)
	return e, nil
}

// SetBitrate sets the target bitrate in bits/s.
func (e *Encoder) SetBitrate(bps int) error {
	if e.st == nil {
		return ErrClosed
	}
	if code := C.kd_enc_set_bitrate(e.st, C.opus_int32(bps)); code != C.OPUS_OK {
		return &Error{Op: "set bitrate", Code: int(code)}
	}
	return nil
}

// SetInbandFEC turns in-band forward error correction on or off: with it
// on and an expected loss (SetPacketLossPerc) above 0, each packet also
// carries a coarser copy of the frame before it (SILK's LBRR), within the
// same bitrate, which a decoder uses when that frame's packet was lost.
func (e *Encoder) SetInbandFEC(on bool) error {
	if e.st == nil {
		return ErrClosed
	}
	v := C.opus_int32(0)
	if on {
		v = 1
	}
	if code := C.kd_enc_set_inband_fec(e.st, v); code != C.OPUS_OK {
		return &Error{Op: "set inband fec", Code: int(code)}
	}
	return nil
}

// SetSignalVoice tells the encoder its input is speech (a visitor's
// voice), which it otherwise guesses from the signal: a steady tone reads
// as music and goes to CELT, which carries no in-band FEC.
func (e *Encoder) SetSignalVoice() error {
	if e.st == nil {
		return ErrClosed
	}
	if code := C.kd_enc_set_signal_voice(e.st); code != C.OPUS_OK {
		return &Error{Op: "set signal", Code: int(code)}
	}
	return nil
}

// SetPacketLossPerc tells the encoder the packet loss to expect (0-100 %):
// it sizes the in-band FEC and its choice of modes by it.
func (e *Encoder) SetPacketLossPerc(percent int) error {
	if e.st == nil {
		return ErrClosed
	}
	if code := C.kd_enc_set_packet_loss_perc(e.st, C.opus_int32(percent)); code != C.OPUS_OK {
		return &Error{Op: "set packet loss", Code: int(code)}
	}
	return nil
}

// Encode encodes one frame of pcm (2.5, 5, 10, 20, 40 or 60 ms of
// interleaved samples) into out and returns the packet's length. 1275
// bytes of out always suffice for one frame.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	if e.st == nil {
		return 0, ErrClosed
	}
	frame := len(pcm) / e.channels
	if frame == 0 || len(out) == 0 {
		return 0, ErrBufferSize
	}
	n := C.opus_encode(e.st, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(frame),
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(len(out)))
	runtime.KeepAlive(pcm)
	runtime.KeepAlive(out)
	if n < 0 {
		return 0, &Error{Op: "encode", Code: int(n)}
	}
	return int(n), nil
}

// Close releases the encoder; it may be called more than once.
func (e *Encoder) Close() error {
	if e.st == nil {
		return nil
	}
	e.cleanup.Stop()
	C.opus_encoder_destroy(e.st)
	e.st = nil
	return nil
}
