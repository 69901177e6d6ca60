package aec

/*
#cgo pkg-config: speexdsp
#include "speex.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// engine is one speexdsp canceller + preprocessor pair working on frames
// of a fixed size. Not safe for concurrent use.
type engine struct {
	k     *C.kaec
	frame int
}

type engineConfig struct {
	frame, tail, rate int
	ec, ns, agc       bool
	nsDB              int // noise floor in dB (negative)
	echoDB            int // residual echo floor, far end alone
	echoActiveDB      int // residual echo floor while the near end talks
	agcTarget         int // AGC target level, 16-bit sample units (RMS-ish)
	agcMaxGain        int // dB
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func newEngine(c engineConfig) (*engine, error) {
	k := C.kaec_new(C.int(c.frame), C.int(c.tail), C.int(c.rate), b2i(c.ec), b2i(c.ns), b2i(c.agc),
		C.int(c.nsDB), C.int(c.echoDB), C.int(c.echoActiveDB), C.int(c.agcTarget), C.int(c.agcMaxGain))
	if k == nil {
		return nil, errors.New("aec: speexdsp could not allocate its state")
	}
	return &engine{k: k, frame: c.frame}, nil
}

// process runs one frame; mic, ref and out have the frame size (out may be mic).
func (e *engine) process(mic, ref, out []int16) {
	C.kaec_process(e.k, (*C.spx_int16_t)(unsafe.Pointer(&mic[0])), (*C.spx_int16_t)(unsafe.Pointer(&ref[0])),
		(*C.spx_int16_t)(unsafe.Pointer(&out[0])), C.int(e.frame))
}

func (e *engine) reset() { C.kaec_reset(e.k) }

func (e *engine) close() {
	if e.k != nil {
		C.kaec_free(e.k)
		e.k = nil
	}
}
