// Package hw finds the kiosk's V4L2 cameras and opens them for capture.
//
// Discovery walks /dev/v4l/by-id (the stable names a USB camera keeps
// across replugs and reboots) and /dev/video*, asks each node what it is
// (VIDIOC_QUERYCAP) and what it can deliver (VIDIOC_ENUM_FMT,
// VIDIOC_ENUM_FRAMESIZES), and picks a raw format (YUYV, NV12, I420) over
// MJPEG. Nothing here runs at package init: devices are touched only when a
// function is called.
//
// All device access goes through a System: Linux() for the real /dev and
// ioctls, hwtest.New for tests (a directory that plays /dev plus cameras
// that deliver frames and can be unplugged).
package hw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Camera errors. Match them with errors.Is; the source maps Missing,
// Busy and Denied to noUserMedia and Unusable to notSupported.
var (
	// ErrMissing: no such device (path absent, card name not found, or no
	// capture device at all for `auto`).
	ErrMissing = errors.New("camera missing")
	// ErrBusy: the device exists but another process holds it.
	ErrBusy = errors.New("camera busy")
	// ErrDenied: the device exists but kioskd may not open it.
	ErrDenied = errors.New("camera access denied")
	// ErrUnusable: the device exists but cannot be used: not a video
	// capture device, or no pixel format kioskd can convert.
	ErrUnusable = errors.New("camera unusable")
	// ErrTimeout: no frame within the read timeout (a stalled or lost camera).
	ErrTimeout = errors.New("camera delivered no frame in time")
)

// PixelFormat is a V4L2 four-character code.
type PixelFormat uint32

// FourCC builds a PixelFormat from its four characters.
func FourCC(s string) PixelFormat {
	var b [4]byte
	copy(b[:], s)
	return PixelFormat(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

// Pixel formats kioskd can turn into I420 for the encoder.
var (
	YUYV  = FourCC("YUYV")
	UYVY  = FourCC("UYVY")
	NV12  = FourCC("NV12")
	NV21  = FourCC("NV21")
	I420  = FourCC("YU12") // V4L2_PIX_FMT_YUV420
	MJPEG = FourCC("MJPG")
	JPEG  = FourCC("JPEG")
)

// String is the four characters, e.g. "YUYV".
func (f PixelFormat) String() string {
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	return strings.TrimRight(string(b), " \x00")
}

// Raw reports whether f is an uncompressed format kioskd converts itself.
func (f PixelFormat) Raw() bool {
	switch f {
	case YUYV, UYVY, NV12, NV21, I420:
		return true
	}
	return false
}

// Supported reports whether kioskd can use frames of format f.
func (f PixelFormat) Supported() bool { return f.Raw() || f == MJPEG || f == JPEG }

// preference ranks usable formats: lower is better. Raw formats first
// (no decode cost, no JPEG artefacts); 4:2:0 layouts before 4:2:2.
func (f PixelFormat) preference() int {
	switch f {
	case I420:
		return 0
	case NV12:
		return 1
	case NV21:
		return 2
	case YUYV:
		return 3
	case UYVY:
		return 4
	case MJPEG:
		return 10
	case JPEG:
		return 11
	}
	return 100
}

// Size is a frame size in pixels.
type Size struct{ Width, Height int }

func (s Size) String() string { return fmt.Sprintf("%dx%d", s.Width, s.Height) }

// SizeRange is a stepwise or continuous frame size range.
type SizeRange struct {
	Min, Max     Size
	StepW, StepH int
}

// Contains reports whether s is a valid size of the range.
func (r SizeRange) Contains(s Size) bool {
	if s.Width < r.Min.Width || s.Width > r.Max.Width || s.Height < r.Min.Height || s.Height > r.Max.Height {
		return false
	}
	sw, sh := max(r.StepW, 1), max(r.StepH, 1)
	return (s.Width-r.Min.Width)%sw == 0 && (s.Height-r.Min.Height)%sh == 0
}

// Format is one pixel format a camera offers, with its frame sizes.
type Format struct {
	PixelFormat PixelFormat
	Description string
	Compressed  bool
	Sizes       []Size     // discrete sizes
	Range       *SizeRange // stepwise/continuous sizes, if the driver reports a range
}

// Caps is what a device node reports about itself.
type Caps struct {
	Card, Driver, Bus string
	// Capture: a single-planar video capture device with streaming I/O.
	Capture bool
	Formats []Format
}

// Camera is a discovered V4L2 device.
type Camera struct {
	// Path is the stable path to configure: the /dev/v4l/by-id link if
	// the device has one, else the /dev/videoN node.
	Path string
	// Node is the /dev/videoN node the path points to now.
	Node string
	Caps
	// Err is set when the node could not be queried (busy, denied).
	Err error
}

// Usable reports whether the camera can capture in a supported format.
func (c Camera) Usable() bool {
	if c.Err != nil || !c.Capture {
		return false
	}
	for _, f := range c.Formats {
		if f.PixelFormat.Supported() && (len(f.Sizes) > 0 || f.Range != nil) {
			return true
		}
	}
	return false
}

// Choice is the format and size picked for capture.
type Choice struct {
	PixelFormat PixelFormat
	Size        Size
}

func (c Choice) String() string { return c.PixelFormat.String() + " " + c.Size.String() }

// Choose picks the capture format for a wanted size: a raw format if the
// camera offers any (the one with the size closest to want, then by
// preference), MJPEG only when no raw format is offered. ErrUnusable when
// nothing fits.
func (c Camera) Choose(want Size) (Choice, error) {
	if c.Err != nil {
		return Choice{}, c.Err
	}
	if !c.Capture {
		return Choice{}, fmt.Errorf("%w: %s (%s) is not a video capture device", ErrUnusable, c.Path, c.Card)
	}
	if want.Width <= 0 || want.Height <= 0 {
		want = Size{640, 480}
	}
	best, bestScore := Choice{}, math.Inf(1)
	for _, f := range c.Formats {
		if !f.PixelFormat.Supported() {
			continue
		}
		size, ok := f.closest(want)
		if !ok {
			continue
		}
		score := sizeDistance(size, want) + float64(f.PixelFormat.preference())*1e-3
		if !f.PixelFormat.Raw() {
			score += 1e6 // MJPEG only if nothing raw is offered
		}
		if score < bestScore {
			best, bestScore = Choice{PixelFormat: f.PixelFormat, Size: size}, score
		}
	}
	if math.IsInf(bestScore, 1) {
		var offered []string
		for _, f := range c.Formats {
			offered = append(offered, f.PixelFormat.String())
		}
		return Choice{}, fmt.Errorf("%w: %s (%s) offers no usable pixel format (offers %s; kioskd takes YUYV, UYVY, NV12, NV21, YU12, MJPG)",
			ErrUnusable, c.Path, c.Card, strings.Join(offered, ", "))
	}
	return best, nil
}

// closest returns the size of f nearest to want.
func (f Format) closest(want Size) (Size, bool) {
	var best Size
	bestD := math.Inf(1)
	try := func(s Size) {
		if s.Width <= 0 || s.Height <= 0 {
			return
		}
		if d := sizeDistance(s, want); d < bestD {
			best, bestD = s, d
		}
	}
	for _, s := range f.Sizes {
		try(s)
	}
	if r := f.Range; r != nil {
		if r.Contains(want) {
			try(want)
		}
		for _, s := range commonSizes {
			if r.Contains(s) {
				try(s)
			}
		}
		try(r.Max)
	}
	return best, !math.IsInf(bestD, 1)
}

// sizeDistance: 0 for an exact match, else how far the areas are apart
// (log scale), with a small bias for the larger of two equally far sizes
// (downscaling is cheaper than losing detail) and for the same aspect.
func sizeDistance(s, want Size) float64 {
	if s == want {
		return 0
	}
	d := math.Abs(math.Log(float64(s.Width*s.Height) / float64(want.Width*want.Height)))
	if s.Width*s.Height < want.Width*want.Height {
		d += 0.01
	}
	ar := math.Abs(float64(s.Width)/float64(s.Height) - float64(want.Width)/float64(want.Height))
	return d + ar*0.1
}

// commonSizes are tried within stepwise ranges (and listed by `devices`).
var commonSizes = []Size{{160, 120}, {320, 240}, {640, 360}, {640, 480}, {800, 600}, {960, 540}, {1024, 768}, {1280, 720}, {1280, 960}, {1920, 1080}}

// AllSizes lists f's sizes for display: the discrete ones, or the common
// sizes a range contains plus its maximum.
func (f Format) AllSizes() []Size {
	if f.Range == nil {
		return f.Sizes
	}
	out := append([]Size(nil), f.Sizes...)
	for _, s := range commonSizes {
		if f.Range.Contains(s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 || out[len(out)-1] != f.Range.Max {
		out = append(out, f.Range.Max)
	}
	return out
}

// StreamRequest asks a device for a format, size and rate.
type StreamRequest struct {
	PixelFormat PixelFormat
	Size        Size
	FPS         int
}

// StreamFormat is what the driver actually set (it may adjust the size).
type StreamFormat struct {
	PixelFormat  PixelFormat
	Size         Size
	BytesPerLine int
	ImageSize    int // bytes of a full frame buffer
}

// Stream is an open capture stream.
type Stream interface {
	Format() StreamFormat
	// ReadFrame copies the next frame into dst (at least ImageSize bytes)
	// and returns its length. It waits at most timeout (ErrTimeout); a
	// device that went away gives an error wrapping ErrMissing.
	ReadFrame(dst []byte, timeout time.Duration) (int, error)
	// Close stops streaming and releases the device; safe to call twice.
	Close() error
}

// System is where cameras are found and opened: the real /dev with V4L2
// ioctls (Linux), or a fake.
type System interface {
	// DevDir is the directory that plays /dev.
	DevDir() string
	// Query asks a device node what it is and what it delivers.
	Query(node string) (Caps, error)
	// Open starts a capture stream on a device node.
	Open(node string, req StreamRequest) (Stream, error)
}

// Cameras lists the video device nodes with their stable paths, sorted by
// path (by-id links first). Nodes that cannot be queried are listed with Err.
func Cameras(ctx context.Context, sys System) ([]Camera, error) {
	dev := sys.DevDir()
	byNode := map[string]string{} // node -> by-id path
	links, _ := filepath.Glob(filepath.Join(dev, "v4l", "by-id", "*"))
	sort.Strings(links)
	for _, l := range links {
		node, err := filepath.EvalSymlinks(l)
		if err != nil {
			continue // dangling link: device gone
		}
		if _, ok := byNode[node]; !ok {
			byNode[node] = l
		}
	}
	nodes, _ := filepath.Glob(filepath.Join(dev, "video*"))
	sort.Slice(nodes, func(i, j int) bool { return nodeLess(nodes[i], nodes[j]) })
	var cams []Camera
	for _, node := range nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		real, err := filepath.EvalSymlinks(node)
		if err != nil {
			continue
		}
		path := byNode[real]
		if path == "" {
			path = node
		}
		caps, err := sys.Query(node)
		cams = append(cams, Camera{Path: path, Node: node, Caps: caps, Err: err})
	}
	sort.SliceStable(cams, func(i, j int) bool {
		bi, bj := strings.Contains(cams[i].Path, "/by-id/"), strings.Contains(cams[j].Path, "/by-id/")
		if bi != bj {
			return bi
		}
		if bi {
			return cams[i].Path < cams[j].Path
		}
		return false // keep node order
	})
	return cams, nil
}

// nodeLess orders video2 before video10.
func nodeLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// Find resolves a camera setting: `auto` (the first usable capture
// device), a path (/dev/v4l/by-id/..., /dev/videoN), or a card name
// (exact, case-insensitive). A missing device wraps ErrMissing (or
// ErrBusy/ErrDenied); one that cannot be used wraps ErrUnusable.
func Find(ctx context.Context, sys System, spec string) (Camera, error) {
	switch {
	case spec == "" || spec == "none" || spec == "test":
		return Camera{}, fmt.Errorf("hw: %q is not a device setting", spec)
	case strings.HasPrefix(spec, "/"):
		return findPath(sys, spec)
	}
	cams, err := Cameras(ctx, sys)
	if err != nil {
		return Camera{}, err
	}
	if spec == "auto" {
		var firstErr error
		for _, c := range cams {
			if c.Usable() {
				return c, nil
			}
			if firstErr == nil {
				switch {
				case c.Err != nil:
					firstErr = fmt.Errorf("%s: %w", c.Path, c.Err)
				case c.Capture:
					_, firstErr = c.Choose(Size{})
				}
			}
		}
		if firstErr != nil {
			// A capture device exists but is busy, denied or unusable.
			return Camera{}, firstErr
		}
		return Camera{}, fmt.Errorf("%w: no video capture device under %s", ErrMissing, sys.DevDir())
	}
	var candidates []Camera
	for _, c := range cams {
		if strings.EqualFold(strings.TrimSpace(c.Card), strings.TrimSpace(spec)) {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) == 0 {
		return Camera{}, fmt.Errorf("%w: no camera with card name %q", ErrMissing, spec)
	}
	// A UVC camera has a capture node and a metadata node with the same
	// card name: take the first usable one.
	for _, c := range candidates {
		if c.Usable() {
			return c, nil
		}
	}
	c := candidates[0]
	for _, cand := range candidates {
		if cand.Capture || cand.Err != nil {
			c = cand
			break
		}
	}
	if c.Err != nil {
		return Camera{}, fmt.Errorf("%s: %w", c.Path, c.Err)
	}
	_, err = c.Choose(Size{})
	if err == nil {
		err = fmt.Errorf("%w: %s (%s)", ErrUnusable, c.Path, c.Card)
	}
	return Camera{}, err
}

func findPath(sys System, path string) (Camera, error) {
	node, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Camera{}, fmt.Errorf("%w: %s does not exist", ErrMissing, path)
		}
		return Camera{}, fmt.Errorf("%w: %s: %v", ErrMissing, path, err)
	}
	caps, err := sys.Query(node)
	if err != nil {
		return Camera{}, fmt.Errorf("%s: %w", path, err)
	}
	c := Camera{Path: path, Node: node, Caps: caps}
	if _, err := c.Choose(Size{}); err != nil {
		return Camera{}, err
	}
	return c, nil
}

// Open finds the camera for spec and starts capture at the format chosen
// for want. The stream reports the format the driver really set.
func Open(ctx context.Context, sys System, spec string, want Size, fps int) (Camera, Stream, error) {
	cam, err := Find(ctx, sys, spec)
	if err != nil {
		return Camera{}, nil, err
	}
	choice, err := cam.Choose(want)
	if err != nil {
		return Camera{}, nil, err
	}
	st, err := sys.Open(cam.Node, StreamRequest{PixelFormat: choice.PixelFormat, Size: choice.Size, FPS: fps})
	if err != nil {
		return Camera{}, nil, fmt.Errorf("%s: %w", cam.Path, err)
	}
	return cam, st, nil
}
