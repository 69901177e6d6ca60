// Package vp8enc is a VP8 encoder on libvpx set up for real time the way
// WebRTC's own libvpx wrapper does it (one pass CBR, no lag, real-time
// deadline, a negative cpu-used speed, error resilience, libwebrtc's
// rate-control buffer sizes), behind mediadevices' codec interfaces.
//
// mediadevices' own vpx encoder leaves libvpx at its default speed (cpu-used
// 0, "good quality"): about 26 ms of CPU for a 640x480 frame where this
// encoder needs a few. See BenchmarkVP8RealTime and BenchmarkVP8Mediadevices.
package vp8enc

// The C side (libvpx set up for real time, and the native worker thread)
// is in vp8enc.c, declared in vp8enc.h.

// #cgo pkg-config: vpx
// #cgo LDFLAGS: -lpthread
// #include <stdlib.h>
// #include "vp8enc.h"
import "C"

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// Params configures the encoder. The zero value of each field picks the
// libwebrtc default; use NewParams for the defaults spelled out.
type Params struct {
	// BitRate is the target in bits/s (CBR). 0: 500 kbit/s.
	BitRate int
	// KeyFrameInterval is the longest distance between key frames, in
	// frames. 0: three seconds at the stream's frame rate (FPS).
	KeyFrameInterval int
	// FPS is the nominal frame rate, for time stamps, the key-frame distance
	// and the intra-frame size cap. 0: the source's rate, else 15.
	FPS int
	// CPUUsed is libvpx's VP8E_SET_CPUUSED in real-time mode (-16..-1;
	// more negative is faster). 0: -6 on x86 as libwebrtc, -8 on ARM.
	CPUUsed int
	// Threads is g_threads. 0: 1, as libwebrtc below 3 cores.
	Threads int
	// DropFrameThreshold is rc_dropframe_thresh (0..100): how full the
	// rate-control buffer may run before the encoder skips a frame. 0: 30
	// as libwebrtc; -1 disables frame dropping.
	DropFrameThreshold int
	// MinQuantizer, MaxQuantizer: 0 gives libwebrtc's 2 and 56.
	MinQuantizer, MaxQuantizer int
	// OwnThread runs libvpx on a native thread of the encoder's own, the
	// calling goroutine parked meanwhile (it waits on an eventfd through
	// the netpoller). The work is the same; what it saves is the Go
	// runtime's: a goroutine in a cgo call holds its P, and while any P is
	// busy sysmon polls every 20 µs (golang/go#18236), i.e. dozens of
	// wake-ups for every millisecond libvpx runs. Off (the default), libvpx
	// runs on the calling thread, as `kioskbench floor` measures it.
	OwnThread bool
}

// NewParams returns the defaults: 500 kbit/s, key frames at least every 3 s.
func NewParams() (Params, error) {
	return Params{BitRate: 500_000}, nil
}

// RTPCodec is VP8 at 90 kHz, payload type 96.
func (p *Params) RTPCodec() *codec.RTPCodec { return codec.NewRTPVP8Codec(90000) }

// BuildVideoEncoder builds an encoder for frames of property's size.
func (p *Params) BuildVideoEncoder(r video.Reader, property prop.Media) (codec.ReadCloser, error) {
	return NewEncoder(r, property, *p)
}

var _ codec.VideoEncoderBuilder = (*Params)(nil)

// Encoder is a real-time VP8 encoder reading frames from a video.Reader.
// It implements codec.ReadCloser, codec.KeyFrameController and
// codec.BitRateController.
type Encoder struct {
	r      video.Reader
	params Params
	fps    int

	// encMu serialises use of the libvpx context (Read's encode, Close).
	encMu  sync.Mutex
	ctx    *C.vpx_codec_ctx_t
	cfg    *C.vpx_codec_enc_cfg_t
	img    *C.vpx_image_t
	inited bool
	width  int
	height int
	pts    int64 // next pts in 90 kHz ticks
	last   time.Time
	out    []byte
	closed bool

	// With Params.OwnThread: the thread, its completion eventfd, and the
	// C buffer it collects frames into.
	worker  *C.kioskd_vp8_worker
	done    *os.File
	cout    *C.uchar
	coutCap int

	// ctlMu guards requests from other goroutines (RTCP PLI, bitrate).
	ctlMu       sync.Mutex
	forceKey    bool
	wantBitRate int
	maxFPS      int       // 0: every frame the source delivers
	lastEncoded time.Time // when the last frame went to libvpx (read by Read only)
	keyFrames   int
	frames      int
}

var (
	_ codec.ReadCloser         = (*Encoder)(nil)
	_ codec.KeyFrameController = (*Encoder)(nil)
	_ codec.BitRateController  = (*Encoder)(nil)
)

// DefaultCPUUsed is the speed used when Params.CPUUsed is 0.
func DefaultCPUUsed() int {
	switch runtime.GOARCH {
	case "arm", "arm64":
		return -8
	}
	return -6
}

// NewEncoder builds an encoder. Frames of another size than property's
// reinitialise libvpx on the fly (with a key frame).
func NewEncoder(r video.Reader, property prop.Media, p Params) (*Encoder, error) {
	if p.BitRate <= 0 {
		p.BitRate = 500_000
	}
	fps := p.FPS
	if fps <= 0 {
		fps = int(property.FrameRate + 0.5)
	}
	if fps <= 0 {
		fps = 15
	}
	if p.KeyFrameInterval <= 0 {
		p.KeyFrameInterval = 3 * fps
	}
	if p.CPUUsed == 0 {
		p.CPUUsed = DefaultCPUUsed()
	}
	if p.CPUUsed < -16 || p.CPUUsed > 16 {
		return nil, fmt.Errorf("vp8enc: cpu-used %d out of range -16..16", p.CPUUsed)
	}
	if p.Threads <= 0 {
		p.Threads = 1
	}
	if p.DropFrameThreshold == 0 {
		p.DropFrameThreshold = 30
	} else if p.DropFrameThreshold < 0 {
		p.DropFrameThreshold = 0
	}
	if p.MinQuantizer == 0 {
		p.MinQuantizer = 2
	}
	if p.MaxQuantizer == 0 {
		p.MaxQuantizer = 56
	}
	e := &Encoder{r: video.ToI420(r), params: p, fps: fps, wantBitRate: p.BitRate}
	e.ctx = C.kioskd_vp8_new_ctx()
	e.cfg = C.kioskd_vp8_new_cfg()
	e.img = C.kioskd_vp8_new_img()
	if e.ctx == nil || e.cfg == nil || e.img == nil {
		e.free()
		return nil, errors.New("vp8enc: out of memory")
	}
	if p.OwnThread {
		if err := e.startWorker(); err != nil {
			e.free()
			return nil, err
		}
	}
	if property.Width > 0 && property.Height > 0 {
		if err := e.init(property.Width, property.Height); err != nil {
			e.free()
			return nil, err
		}
	}
	return e, nil
}

// init (re)creates the libvpx context for w x h. encMu held (or not yet shared).
func (e *Encoder) init(w, h int) error {
	if e.inited {
		C.vpx_codec_destroy(e.ctx)
		e.inited = false
	}
	if ec := C.vpx_codec_enc_config_default(C.kioskd_vp8_iface(), e.cfg, 0); ec != C.VPX_CODEC_OK {
		return fmt.Errorf("vp8enc: vpx_codec_enc_config_default: %s", C.GoString(C.vpx_codec_err_to_string(ec)))
	}
	p := e.params
	cfg := e.cfg
	cfg.g_w = C.uint(w)
	cfg.g_h = C.uint(h)
	cfg.g_timebase.num = 1
	cfg.g_timebase.den = 90000
	cfg.g_threads = C.uint(p.Threads)
	cfg.g_lag_in_frames = 0
	cfg.g_error_resilient = C.VPX_ERROR_RESILIENT_DEFAULT
	cfg.g_pass = C.VPX_RC_ONE_PASS
	cfg.rc_end_usage = C.VPX_CBR
	cfg.rc_target_bitrate = C.uint(max(1, e.currentBitRate()/1000))
	cfg.rc_dropframe_thresh = C.uint(p.DropFrameThreshold)
	cfg.rc_resize_allowed = 0
	cfg.rc_min_quantizer = C.uint(p.MinQuantizer)
	cfg.rc_max_quantizer = C.uint(p.MaxQuantizer)
	cfg.rc_undershoot_pct = 100
	cfg.rc_overshoot_pct = 15
	cfg.rc_buf_initial_sz = 500
	cfg.rc_buf_optimal_sz = 600
	cfg.rc_buf_sz = 1000
	cfg.kf_mode = C.VPX_KF_AUTO
	cfg.kf_min_dist = 0
	cfg.kf_max_dist = C.uint(p.KeyFrameInterval)
	if ec := C.kioskd_vp8_init(e.ctx, cfg); ec != C.VPX_CODEC_OK {
		return fmt.Errorf("vp8enc: vpx_codec_enc_init: %s", C.GoString(C.vpx_codec_err_to_string(ec)))
	}
	e.inited = true
	// libwebrtc's MaxIntraTarget: optimal buffer (ms) * 0.5 * fps / 10, >= 300 %.
	maxIntra := max(600*e.fps/20, 300)
	if ec := C.kioskd_vp8_controls(e.ctx, C.int(p.CPUUsed), 1, C.uint(maxIntra)); ec != C.VPX_CODEC_OK {
		C.vpx_codec_destroy(e.ctx)
		e.inited = false
		return fmt.Errorf("vp8enc: vpx_codec_control: %s", C.GoString(C.vpx_codec_err_to_string(ec)))
	}
	// Image header only: the planes point into each Go frame while encoding.
	e.img.fmt = C.VPX_IMG_FMT_I420
	e.img.w, e.img.h = C.uint(w), C.uint(h)
	e.img.d_w, e.img.d_h = C.uint(w), C.uint(h)
	e.img.r_w, e.img.r_h = C.uint(w), C.uint(h)
	e.img.x_chroma_shift, e.img.y_chroma_shift = 1, 1
	e.img.bps = 12
	e.img.bit_depth = 8
	e.width, e.height = w, h
	if need := w*h*3/2 + 1024; e.worker != nil {
		if e.coutCap < need {
			C.free(unsafe.Pointer(e.cout))
			e.cout, e.coutCap = C.kioskd_vp8_new_out(C.int(need)), 0
			if e.cout == nil {
				return errors.New("vp8enc: out of memory")
			}
			e.coutCap = need
		}
	} else if cap(e.out) < need {
		e.out = make([]byte, need)
	}
	// A new context starts with a key frame anyway.
	e.ctlMu.Lock()
	e.forceKey = false
	e.ctlMu.Unlock()
	return nil
}

func (e *Encoder) currentBitRate() int {
	e.ctlMu.Lock()
	defer e.ctlMu.Unlock()
	return e.wantBitRate
}

// Read encodes the next frame and returns it. Frames libvpx's rate control
// drops are skipped (the next frame is read), so every call returns a frame.
func (e *Encoder) Read() ([]byte, func(), error) {
	for {
		// The source is read without the lock: Close must not wait for a
		// camera that has stopped delivering.
		img, release, err := e.r.Read()
		if err != nil {
			return nil, func() {}, err
		}
		if e.skip(time.Now()) {
			release()
			continue
		}
		b, err := e.encode(img)
		release()
		if err != nil || b != nil {
			return b, func() {}, err
		}
	}
}

func (e *Encoder) encode(src image.Image) ([]byte, error) {
	yuv, ok := src.(*image.YCbCr)
	if !ok || yuv.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return nil, fmt.Errorf("vp8enc: need I420 frames, got %T", src)
	}
	e.encMu.Lock()
	defer e.encMu.Unlock()
	if e.closed {
		return nil, io.EOF
	}
	w, h := yuv.Rect.Dx(), yuv.Rect.Dy()
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("vp8enc: empty frame %dx%d", w, h)
	}
	if !e.inited || w != e.width || h != e.height {
		if err := e.init(w, h); err != nil {
			return nil, err
		}
	}
	e.ctlMu.Lock()
	flags := C.long(0)
	if e.forceKey {
		flags |= C.VPX_EFLAG_FORCE_KF
		e.forceKey = false
	}
	if want := C.uint(max(1, e.wantBitRate/1000)); want != e.cfg.rc_target_bitrate {
		e.cfg.rc_target_bitrate = want
		if ec := C.vpx_codec_enc_config_set(e.ctx, e.cfg); ec != C.VPX_CODEC_OK {
			e.ctlMu.Unlock()
			return nil, fmt.Errorf("vp8enc: set bitrate: %s", C.GoString(C.vpx_codec_err_to_string(ec)))
		}
	}
	e.ctlMu.Unlock()

	// Time stamps in 90 kHz from the arrival of frames; the nominal
	// duration is one frame at fps.
	now := time.Now()
	duration := int64(90000 / e.fps)
	if !e.last.IsZero() {
		if d := now.Sub(e.last).Microseconds() * 90 / 1000; d > 0 {
			e.pts += d
		} else {
			e.pts++
		}
	}
	e.last = now

	// Point at the visible rectangle's first pixels.
	y := yuv.Y[yuv.YOffset(yuv.Rect.Min.X, yuv.Rect.Min.Y):]
	co := yuv.COffset(yuv.Rect.Min.X, yuv.Rect.Min.Y)
	u, v := yuv.Cb[co:], yuv.Cr[co:]
	if len(y) < (h-1)*yuv.YStride+w || len(u) < ((h+1)/2-1)*yuv.CStride+(w+1)/2 || len(v) < ((h+1)/2-1)*yuv.CStride+(w+1)/2 {
		return nil, errors.New("vp8enc: frame planes too small")
	}
	var (
		ec      C.vpx_codec_err_t
		key, cn C.int
		out     []byte
	)
	if e.worker != nil {
		// The thread reads the planes while this goroutine waits: pinned
		// (a frame in C memory is left alone by Pin).
		var pin runtime.Pinner
		pin.Pin(&y[0])
		pin.Pin(&u[0])
		pin.Pin(&v[0])
		C.kioskd_vp8_worker_submit(e.worker, e.ctx, e.img,
			(*C.uchar)(unsafe.Pointer(&y[0])), (*C.uchar)(unsafe.Pointer(&u[0])), (*C.uchar)(unsafe.Pointer(&v[0])),
			C.int(yuv.YStride), C.int(yuv.CStride),
			C.longlong(e.pts), C.ulong(duration), flags, e.cout, C.int(e.coutCap))
		var buf [8]byte
		_, _ = io.ReadFull(e.done, buf[:]) // on failure the next call waits in C instead
		ec = C.kioskd_vp8_worker_result(e.worker, &cn, &key)
		pin.Unpin()
		out = unsafe.Slice((*byte)(unsafe.Pointer(e.cout)), e.coutCap)
	} else {
		ec = C.kioskd_vp8_encode(e.ctx, e.img,
			(*C.uchar)(unsafe.Pointer(&y[0])), (*C.uchar)(unsafe.Pointer(&u[0])), (*C.uchar)(unsafe.Pointer(&v[0])),
			C.int(yuv.YStride), C.int(yuv.CStride),
			C.longlong(e.pts), C.ulong(duration), flags)
		if ec == C.VPX_CODEC_OK {
			cn = C.kioskd_vp8_collect(e.ctx, (*C.uchar)(unsafe.Pointer(&e.out[0])), C.int(len(e.out)), &key)
		}
		out = e.out
	}
	if ec != C.VPX_CODEC_OK {
		return nil, fmt.Errorf("vp8enc: vpx_codec_encode: %s", C.GoString(C.vpx_codec_err_to_string(ec)))
	}
	n := int(cn)
	if n > len(out) {
		return nil, fmt.Errorf("vp8enc: frame of %d bytes exceeds buffer", n)
	}
	if n == 0 {
		// Dropped by rate control; a pending key-frame request stays pending.
		if flags&C.VPX_EFLAG_FORCE_KF != 0 {
			e.ctlMu.Lock()
			e.forceKey = true
			e.ctlMu.Unlock()
		}
		return nil, nil
	}
	e.ctlMu.Lock()
	e.frames++
	if key != 0 {
		e.keyFrames++
	}
	e.ctlMu.Unlock()
	return append([]byte(nil), out[:n]...), nil
}

// startWorker starts the thread of Params.OwnThread.
func (e *Encoder) startWorker() error {
	w := C.kioskd_vp8_new_worker()
	if w == nil {
		return errors.New("vp8enc: out of memory")
	}
	fd := C.kioskd_vp8_worker_start(w)
	if fd < 0 {
		C.free(unsafe.Pointer(w))
		return errors.New("vp8enc: cannot start the encoder thread")
	}
	e.worker = w
	// Nonblocking: os.File waits on it through the netpoller.
	e.done = os.NewFile(uintptr(fd), "vp8enc-done")
	return nil
}

// ForceKeyFrame makes the next frame a key frame (RTCP PLI/FIR).
func (e *Encoder) ForceKeyFrame() error {
	e.ctlMu.Lock()
	e.forceKey = true
	e.ctlMu.Unlock()
	return nil
}

// SetBitRate changes the CBR target (bits/s) from the next frame on.
func (e *Encoder) SetBitRate(bps int) error {
	if bps <= 0 {
		return fmt.Errorf("vp8enc: bitrate %d", bps)
	}
	e.ctlMu.Lock()
	e.wantBitRate = bps
	e.ctlMu.Unlock()
	return nil
}

// SetMaxFrameRate caps the frames encoded per second (congestion
// control's frame-rate step): frames that come sooner than 1/fps after
// the last one encoded are skipped. 0 or less encodes every frame.
func (e *Encoder) SetMaxFrameRate(fps int) {
	e.ctlMu.Lock()
	e.maxFPS = max(fps, 0)
	e.ctlMu.Unlock()
}

// skip decides whether the frame read at now is skipped for the frame-rate
// cap. The gap allowed is 90 % of 1/fps, so a camera's jitter does not
// halve the rate asked for.
func (e *Encoder) skip(now time.Time) bool {
	e.ctlMu.Lock()
	fps := e.maxFPS
	e.ctlMu.Unlock()
	if fps > 0 && fps < e.fps && !e.lastEncoded.IsZero() && now.Sub(e.lastEncoded) < time.Second*9/10/time.Duration(fps) {
		return true
	}
	e.lastEncoded = now
	return false
}

// Stats reports frames encoded and how many were key frames.
func (e *Encoder) Stats() (frames, keyFrames int) {
	e.ctlMu.Lock()
	defer e.ctlMu.Unlock()
	return e.frames, e.keyFrames
}

// Controller returns the encoder itself (KeyFrameController, BitRateController).
func (e *Encoder) Controller() codec.EncoderController { return e }

// Close frees libvpx; a Read in progress returns io.EOF.
func (e *Encoder) Close() error {
	e.encMu.Lock()
	defer e.encMu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.free()
	return nil
}

func (e *Encoder) free() {
	if e.worker != nil {
		C.kioskd_vp8_worker_stop(e.worker)
		_ = e.done.Close()
		C.free(unsafe.Pointer(e.worker))
		C.free(unsafe.Pointer(e.cout))
		e.worker, e.done, e.cout, e.coutCap = nil, nil, nil, 0
	}
	if e.inited {
		C.vpx_codec_destroy(e.ctx)
		e.inited = false
	}
	C.free(unsafe.Pointer(e.ctx))
	C.free(unsafe.Pointer(e.cfg))
	C.free(unsafe.Pointer(e.img))
	e.ctx, e.cfg, e.img = nil, nil, nil
}
