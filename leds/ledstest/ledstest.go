// Package ledstest has fake LED backends that record every call with the
// time of an injected clock, so tests can assert exact sequences, flash
// counts and timing without hardware and without sleeping.
//
// Backend only sets LEDs, so the controller blinks in software. Blinker
// also blinks by itself, like a kernel timer trigger, and CodeBlinker also
// shows error codes by itself.
package ledstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/leds"
)

var (
	_ leds.Backend     = (*Backend)(nil)
	_ leds.Blinker     = (*Blinker)(nil)
	_ leds.CodeBlinker = (*CodeBlinker)(nil)
	_ leds.Blinker     = (*Spy)(nil)
	_ leds.CodeBlinker = (*Spy)(nil)
	_ leds.Batcher     = (*Spy)(nil)
)

// OpKind says which call an Op records.
type OpKind int

const (
	OpSet OpKind = iota + 1
	OpBlink
	OpCode
	OpClose
)

func (k OpKind) String() string {
	switch k {
	case OpSet:
		return "set"
	case OpBlink:
		return "blink"
	case OpCode:
		return "code"
	case OpClose:
		return "close"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one recorded call.
type Op struct {
	At   time.Time
	Kind OpKind
	Name string        // "" for OpClose
	On   bool          // OpSet
	N    int           // OpCode: flashes
	Lit  time.Duration // OpBlink, OpCode: on time
	Dark time.Duration // OpBlink, OpCode: off time
	// Pause is OpCode's pause after the last flash.
	Pause time.Duration
	// Err is what the call returned (Spy records failed calls too).
	Err error
}

func (o Op) String() string {
	switch o.Kind {
	case OpSet:
		if o.On {
			return o.Name + " on"
		}
		return o.Name + " off"
	case OpBlink:
		return fmt.Sprintf("%s blink %v/%v", o.Name, o.Lit, o.Dark)
	case OpCode:
		return fmt.Sprintf("%s code %d", o.Name, o.N)
	}
	return o.Kind.String()
}

var errClosed = errors.New("ledstest: backend closed")

// Backend is a fake leds.Backend that only sets LEDs.
type Backend struct {
	clk clock.Clock

	mu      sync.Mutex
	ops     []Op
	fail    map[string]error
	closed  bool
	changed chan struct{} // closed and replaced at every recorded op
}

// New returns a fake stamping each call with clk's time.
func New(clk clock.Clock) *Backend {
	return &Backend{clk: clk, fail: map[string]error{}, changed: make(chan struct{})}
}

// Set records the call; it returns the error set with Fail, if any.
func (b *Backend) Set(name string, on bool) error {
	return b.record(Op{Kind: OpSet, Name: name, On: on})
}

// Close records the call. Later calls of any kind fail.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	b.closed = true
	b.appendLocked(Op{At: b.clk.Now(), Kind: OpClose})
	return nil
}

// Fail makes every later call for name return err (nil: succeed again).
// The failed call is still recorded.
func (b *Backend) Fail(name string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		delete(b.fail, name)
		return
	}
	b.fail[name] = err
}

func (b *Backend) record(op Op) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	op.At = b.clk.Now()
	b.appendLocked(op)
	return b.fail[op.Name]
}

func (b *Backend) appendLocked(op Op) {
	b.ops = append(b.ops, op)
	close(b.changed)
	b.changed = make(chan struct{})
}

// Ops returns a copy of every recorded call, oldest first.
func (b *Backend) Ops() []Op {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Op(nil), b.ops...)
}

// Len is how many calls were recorded.
func (b *Backend) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ops)
}

// Closed reports whether Close was called.
func (b *Backend) Closed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Wait blocks until cond holds for the recorded calls, or ctx ends. It wakes
// at every recorded call, so it synchronises without polling or sleeping.
func (b *Backend) Wait(ctx context.Context, cond func(ops []Op) bool) error {
	for {
		b.mu.Lock()
		ok := cond(b.ops)
		ch := b.changed
		n := len(b.ops)
		b.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ledstest: condition not met after %d calls: %w", n, ctx.Err())
		}
	}
}

// WaitLen blocks until at least n calls were recorded.
func (b *Backend) WaitLen(ctx context.Context, n int) error {
	return b.Wait(ctx, func(ops []Op) bool { return len(ops) >= n })
}

// State is an LED's current look according to the recorded calls.
type State struct {
	On    bool // steady level (when neither Blink nor Code)
	Blink bool
	Code  int           // flashes, when showing a code
	Lit   time.Duration // Blink/Code on time
	Dark  time.Duration // Blink/Code off time
}

// State returns the look of name after the last recorded call for it.
func (b *Backend) State(name string) State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return StateOf(b.ops, name)
}

// StateOf is State over a list of calls.
func StateOf(ops []Op, name string) State {
	var s State
	for _, o := range ops {
		if o.Name != name {
			continue
		}
		switch o.Kind {
		case OpSet:
			s = State{On: o.On}
		case OpBlink:
			s = State{Blink: true, Lit: o.Lit, Dark: o.Dark}
		case OpCode:
			s = State{Code: o.N, Lit: o.Lit, Dark: o.Dark}
		}
	}
	return s
}

// Flashes counts how often name went from dark to lit through Set within
// [from, to), starting from its level just before from.
func Flashes(ops []Op, name string, from, to time.Time) int {
	on, n := false, 0
	for _, o := range ops {
		if o.Name != name || o.Kind != OpSet {
			continue
		}
		if o.At.Before(from) {
			on = o.On
			continue
		}
		if !o.At.Before(to) {
			break
		}
		if o.On && !on {
			n++
		}
		on = o.On
	}
	return n
}

// Blinker is a fake backend whose LEDs blink by themselves. Names passed to
// Unsupported get that error instead, as a ledclass LED without a timer
// trigger would.
type Blinker struct {
	*Backend
	unsupported map[string]error
}

// NewBlinker returns a fake that records Blink calls too.
func NewBlinker(clk clock.Clock) *Blinker {
	return &Blinker{Backend: New(clk), unsupported: map[string]error{}}
}

// Unsupported makes Blink (and BlinkCode) for name fail with err, which
// should wrap leds.ErrNotSupported for the controller to blink it in software.
func (b *Blinker) Unsupported(name string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unsupported[name] = err
}

// Blink records the call.
func (b *Blinker) Blink(name string, on, off time.Duration) error {
	b.mu.Lock()
	err := b.unsupported[name]
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return b.record(Op{Kind: OpBlink, Name: name, Lit: on, Dark: off})
}

// CodeBlinker is a fake backend that blinks and shows codes by itself, as
// the console does.
type CodeBlinker struct {
	*Blinker
}

// NewCodeBlinker returns a fake that records BlinkCode calls too.
func NewCodeBlinker(clk clock.Clock) *CodeBlinker {
	return &CodeBlinker{Blinker: NewBlinker(clk)}
}

// BlinkCode records the call.
func (b *CodeBlinker) BlinkCode(name string, n int, on, off, pause time.Duration) error {
	b.mu.Lock()
	err := b.unsupported[name]
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return b.record(Op{Kind: OpCode, Name: name, N: n, Lit: on, Dark: off, Pause: pause})
}

// Spy wraps a real backend, forwarding every call and recording it (with
// what it returned), so a test of a real backend can wait for the
// controller exactly as with the fakes. Blink and BlinkCode return
// leds.ErrNotSupported when the wrapped backend lacks them, which the
// controller treats the same as a backend without those methods.
type Spy struct {
	*Backend
	inner leds.Backend
}

// Wrap returns a Spy around inner.
func Wrap(clk clock.Clock, inner leds.Backend) *Spy {
	return &Spy{Backend: New(clk), inner: inner}
}

func (s *Spy) Set(name string, on bool) error {
	err := s.inner.Set(name, on)
	s.log(Op{Kind: OpSet, Name: name, On: on, Err: err})
	return err
}

func (s *Spy) Blink(name string, on, off time.Duration) error {
	err := fmt.Errorf("ledstest: %T cannot blink: %w", s.inner, leds.ErrNotSupported)
	if b, ok := s.inner.(leds.Blinker); ok {
		err = b.Blink(name, on, off)
	}
	s.log(Op{Kind: OpBlink, Name: name, Lit: on, Dark: off, Err: err})
	return err
}

func (s *Spy) BlinkCode(name string, n int, on, off, pause time.Duration) error {
	err := fmt.Errorf("ledstest: %T cannot show codes: %w", s.inner, leds.ErrNotSupported)
	if b, ok := s.inner.(leds.CodeBlinker); ok {
		err = b.BlinkCode(name, n, on, off, pause)
	}
	s.log(Op{Kind: OpCode, Name: name, N: n, Lit: on, Dark: off, Pause: pause, Err: err})
	return err
}

// Begin and End are forwarded when the wrapped backend batches, and not
// recorded.
func (s *Spy) Begin() {
	if b, ok := s.inner.(leds.Batcher); ok {
		b.Begin()
	}
}

func (s *Spy) End() error {
	if b, ok := s.inner.(leds.Batcher); ok {
		return b.End()
	}
	return nil
}

func (s *Spy) Close() error {
	err := s.inner.Close()
	s.log(Op{Kind: OpClose, Err: err})
	return err
}

func (s *Spy) log(op Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op.At = s.clk.Now()
	s.appendLocked(op)
}
