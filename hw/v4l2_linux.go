//go:build linux && cgo

package hw

// The ioctls are made in C (v4l2_linux.c) with the structures of the
// kernel's own header, so their layout is right on every architecture
// (amd64, arm64, armhf).

// #include <errno.h>
// #include "v4l2_linux.h"
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	capVideoCapture = 0x00000001
	capStreaming    = 0x04000000
	fmtCompressed   = 0x0001
	frmsizeDiscrete = 1
	bufFlagError    = 0x00000040
)

// Linux returns the real system: /dev and V4L2 ioctls.
func Linux() System { return linuxSystem{} }

type linuxSystem struct{}

func (linuxSystem) DevDir() string { return "/dev" }

// openErr classifies an open/ioctl failure.
func openErr(op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.ENOENT, unix.ENODEV, unix.ENXIO:
			return fmt.Errorf("%w: %s: %v", ErrMissing, op, err)
		case unix.EBUSY:
			return fmt.Errorf("%w: %s: %v", ErrBusy, op, err)
		case unix.EACCES, unix.EPERM:
			return fmt.Errorf("%w: %s: %v", ErrDenied, op, err)
		case unix.ENOTTY:
			// Not a V4L2 device at all (wrong path in the config).
			return fmt.Errorf("%w: %s: not a V4L2 device: %v", ErrUnusable, op, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

func cerr(r C.int) error {
	if r >= 0 {
		return nil
	}
	return syscall.Errno(-r)
}

func cstr(b []C.char) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	s := make([]byte, n)
	for i := range s {
		s[i] = byte(b[i])
	}
	return string(s)
}

func (linuxSystem) Query(node string) (Caps, error) {
	fd, err := unix.Open(node, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return Caps{}, openErr("open "+node, err)
	}
	defer unix.Close(fd)
	var card, driver, bus [32]C.char
	var capsBits C.uint
	if err := cerr(C.kv_querycap(C.int(fd), &card[0], &driver[0], &bus[0], &capsBits)); err != nil {
		return Caps{}, openErr("VIDIOC_QUERYCAP "+node, err)
	}
	caps := Caps{Card: cstr(card[:]), Driver: cstr(driver[:]), Bus: cstr(bus[:]),
		Capture: capsBits&capVideoCapture != 0 && capsBits&capStreaming != 0}
	if !caps.Capture {
		return caps, nil
	}
	for i := 0; i < 64; i++ {
		var pix, flags C.uint
		var desc [32]C.char
		if C.kv_enum_fmt(C.int(fd), C.uint(i), &pix, &flags, &desc[0]) < 0 {
			break
		}
		f := Format{PixelFormat: PixelFormat(pix), Description: cstr(desc[:]), Compressed: flags&fmtCompressed != 0}
		for j := 0; j < 256; j++ {
			var out [7]C.uint
			if C.kv_enum_size(C.int(fd), pix, C.uint(j), &out[0]) < 0 {
				break
			}
			if out[0] == frmsizeDiscrete {
				f.Sizes = append(f.Sizes, Size{int(out[1]), int(out[2])})
				continue
			}
			f.Range = &SizeRange{Min: Size{int(out[1]), int(out[4])}, Max: Size{int(out[2]), int(out[5])},
				StepW: int(out[3]), StepH: int(out[6])}
			break
		}
		caps.Formats = append(caps.Formats, f)
	}
	return caps, nil
}

const bufferCount = 4

type linuxStream struct {
	node string
	fd   int
	bufs [][]byte
	f    StreamFormat

	mu     sync.Mutex
	closed bool
}

func (linuxSystem) Open(node string, req StreamRequest) (Stream, error) {
	fd, err := unix.Open(node, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openErr("open "+node, err)
	}
	s := &linuxStream{node: node, fd: fd}
	if err := s.start(req); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func (s *linuxStream) start(req StreamRequest) error {
	fd := C.int(s.fd)
	io := [5]C.uint{C.uint(req.PixelFormat), C.uint(req.Size.Width), C.uint(req.Size.Height)}
	if err := cerr(C.kv_set_fmt(fd, &io[0])); err != nil {
		return openErr("VIDIOC_S_FMT "+s.node, err)
	}
	s.f = StreamFormat{PixelFormat: PixelFormat(io[0]), Size: Size{int(io[1]), int(io[2])},
		BytesPerLine: int(io[3]), ImageSize: int(io[4])}
	if s.f.PixelFormat != req.PixelFormat {
		return fmt.Errorf("%w: %s: driver replaced %s with %s", ErrUnusable, s.node, req.PixelFormat, s.f.PixelFormat)
	}
	if req.FPS > 0 {
		_ = C.kv_set_fps(fd, C.uint(req.FPS)) // best effort: not every driver has S_PARM
	}
	n := C.kv_reqbufs(fd, bufferCount)
	if n < 0 {
		return openErr("VIDIOC_REQBUFS "+s.node, cerr(n))
	}
	if n < 2 {
		return fmt.Errorf("%s: driver granted %d buffers", s.node, int(n))
	}
	for i := 0; i < int(n); i++ {
		var off, length C.uint
		if err := cerr(C.kv_querybuf(fd, C.uint(i), &off, &length)); err != nil {
			return openErr("VIDIOC_QUERYBUF "+s.node, err)
		}
		b, err := unix.Mmap(s.fd, int64(off), int(length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return openErr("mmap "+s.node, err)
		}
		s.bufs = append(s.bufs, b)
		if err := cerr(C.kv_qbuf(fd, C.uint(i))); err != nil {
			return openErr("VIDIOC_QBUF "+s.node, err)
		}
	}
	if s.f.ImageSize == 0 && len(s.bufs) > 0 {
		s.f.ImageSize = len(s.bufs[0])
	}
	if err := cerr(C.kv_stream(fd, 1)); err != nil {
		return openErr("VIDIOC_STREAMON "+s.node, err)
	}
	return nil
}

func (s *linuxStream) Format() StreamFormat { return s.f }

func (s *linuxStream) ReadFrame(dst []byte, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, errors.New("hw: stream closed")
		}
		fd := s.fd
		s.mu.Unlock()
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, fmt.Errorf("%w (%s, %v)", ErrTimeout, s.node, timeout)
		}
		// Poll in short slices so Close is noticed promptly.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(min(wait, 200*time.Millisecond)/time.Millisecond)+1)
		if err != nil && err != unix.EINTR {
			return 0, openErr("poll "+s.node, err)
		}
		if n <= 0 {
			continue
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && pfd[0].Revents&unix.POLLIN == 0 {
			return 0, fmt.Errorf("%w: %s stopped streaming (unplugged?)", ErrMissing, s.node)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, errors.New("hw: stream closed")
		}
		var idx, used, flags C.uint
		r := C.kv_dqbuf(C.int(s.fd), &idx, &used, &flags)
		if r == -C.EAGAIN {
			s.mu.Unlock()
			continue
		}
		if r < 0 {
			s.mu.Unlock()
			return 0, openErr("VIDIOC_DQBUF "+s.node, cerr(r))
		}
		var nb int
		if int(idx) < len(s.bufs) && flags&bufFlagError == 0 {
			nb = copy(dst, s.bufs[idx][:min(int(used), len(s.bufs[idx]))])
		}
		r = C.kv_qbuf(C.int(s.fd), idx)
		s.mu.Unlock()
		if r < 0 {
			return 0, openErr("VIDIOC_QBUF "+s.node, cerr(r))
		}
		if nb == 0 {
			continue // empty or corrupt frame: wait for the next
		}
		return nb, nil
	}
}

func (s *linuxStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	_ = C.kv_stream(C.int(s.fd), 0)
	s.release()
	return nil
}

func (s *linuxStream) release() {
	for _, b := range s.bufs {
		_ = unix.Munmap(b)
	}
	s.bufs = nil
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}
