// Package audio is kioskd's microphone and speaker on ALSA, through
// miniaudio (gen2brain/malgo) with the ALSA backend pinned and the PCM
// named in the config: 48 kHz mono 16-bit, 20 ms chunks.
//
// The microphone is a mediadevices AudioSource used directly (not a driver
// registered with mediadevices' global driver manager): kioskd opens the
// one PCM its config names, owns the stream (opened by Tracks, closed once
// by Reset), and gets typed errors (missing vs unusable) instead of a
// registry keyed by random ids that mediadevices fills by enumerating at
// init. mediadevices' own microphone package is not imported: it picks the
// backend itself and panics at init when it cannot.
//
// libasound is loaded by miniaudio at run time (dlopen), when a device is
// first opened, never at package init.
package audio

// #include <stdlib.h>
// #include <string.h>
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

const (
	// SampleRate of everything kioskd captures and plays.
	SampleRate = 48000
	// ChunkDuration is one Opus frame.
	ChunkDuration = 20 * time.Millisecond
	// ChunkFrames is the samples of one 20 ms mono chunk.
	ChunkFrames = SampleRate * int(ChunkDuration/time.Millisecond) / 1000
	// periodMs is the ALSA period asked for.
	periodMs = 10
)

// Audio device errors (match with errors.Is). Missing, busy and denied
// map to noUserMedia, unusable to notSupported.
var (
	ErrMissing  = errors.New("audio device missing")
	ErrBusy     = errors.New("audio device busy")
	ErrDenied   = errors.New("audio device access denied")
	ErrUnusable = errors.New("audio device unusable")
	ErrTimeout  = errors.New("audio device delivered no samples in time")
	// ErrStopped: the device stopped by itself (unplugged, I/O error).
	ErrStopped = errors.New("audio device stopped")
	// ErrNoALSA: libasound could not be loaded.
	ErrNoALSA = errors.New("ALSA (libasound.so.2) not available")
)

// newContext opens a miniaudio context on the ALSA backend only (never a
// fallback: no PulseAudio, no null backend, whose constant malgo v0.11.24
// also gets wrong: 13 is ma_backend_custom, null is 14).
func newContext(log *slog.Logger) (*malgo.AllocatedContext, error) {
	ctx, err := malgo.InitContext([]malgo.Backend{malgo.BackendAlsa}, malgo.ContextConfig{}, func(msg string) {
		log.Debug("miniaudio", "msg", strings.TrimSpace(msg))
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoALSA, err)
	}
	return ctx, nil
}

func freeContext(ctx *malgo.AllocatedContext) {
	if ctx == nil {
		return
	}
	_ = ctx.Uninit()
	ctx.Free()
}

// PCMName maps a config value to the ALSA PCM to open: "" is "default".
func PCMName(setting string) string {
	if setting == "" {
		return "default"
	}
	return setting
}

// cDeviceID returns a C copy of an ALSA device id (the PCM name), which
// miniaudio reads during ma_device_init; free it with C.free afterwards.
func cDeviceID(pcm string) (unsafe.Pointer, error) {
	var id malgo.DeviceID
	if len(pcm) >= len(id) {
		return nil, fmt.Errorf("%w: PCM name too long", ErrUnusable)
	}
	copy(id[:], pcm)
	p := C.malloc(C.size_t(len(id)))
	C.memcpy(p, unsafe.Pointer(&id[0]), C.size_t(len(id)))
	return p, nil
}

// openDevice opens and starts a miniaudio device of dc's type on pcm (the
// context with it), alsa-lib's error lines collected and logged on log
// (see withALSALines). what names the device in its errors.
func openDevice(what, pcm string, log *slog.Logger, dc malgo.DeviceConfig, cb malgo.DeviceCallbacks) (*malgo.AllocatedContext, *malgo.Device, error) {
	id, err := cDeviceID(pcm)
	if err != nil {
		return nil, nil, err
	}
	defer C.free(id)
	if dc.DeviceType == malgo.Capture {
		dc.Capture.DeviceID = id
	} else {
		dc.Playback.DeviceID = id
	}
	var ctx *malgo.AllocatedContext
	var dev *malgo.Device
	lines := withALSALines(log, func() {
		if ctx, err = newContext(log); err != nil {
			return
		}
		if dev, err = malgo.InitDevice(ctx.Context, dc, cb); err != nil {
			freeContext(ctx)
			err = classify(what, err)
			return
		}
		if err = dev.Start(); err != nil {
			dev.Uninit()
			freeContext(ctx)
			err = classify(what, err)
		}
	})
	if err != nil {
		if cause := alsaCause(lines); cause != "" {
			err = fmt.Errorf("%w (alsa-lib: %s)", err, cause)
		}
		return nil, nil, err
	}
	return ctx, dev, nil
}

// classify maps a miniaudio result from opening a device to kioskd's
// errors. ALSA reports an undefined PCM, a missing card and a missing input
// file of a `file` PCM as ENOENT/ENODEV (miniaudio: DoesNotExist/NoDevice/
// FailedToOpenBackendDevice). The error does not repeat the PCM: whoever
// reports it names the device (media: `microphone "default": …`; the
// speaker's log line: speaker=default).
func classify(what string, err error) error {
	var r malgo.Result
	if errors.As(err, &r) {
		switch r {
		case malgo.ErrBusy, malgo.ErrAlreadyInUse:
			return fmt.Errorf("%w: %v", ErrBusy, err)
		case malgo.ErrAccessDenied:
			return fmt.Errorf("%w: %v", ErrDenied, err)
		case malgo.ErrFormatNotSupported, malgo.ErrDeviceTypeNotSupported, malgo.ErrShareModeNotSupported,
			malgo.ErrInvalidDeviceConfig, malgo.ErrInvalidArgs:
			return fmt.Errorf("%w: the %s cannot do %d Hz mono 16-bit: %v", ErrUnusable, what, SampleRate, err)
		}
	}
	return fmt.Errorf("%w: %v", ErrMissing, err)
}
