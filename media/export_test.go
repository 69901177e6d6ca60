package media

import (
	"context"

	"github.com/pion/rtp"
)

// Helpers of the internal tests, lent to the external ones (package
// media_test), which use mediatest's camera: mediatest imports media, so
// no test inside the package can use it.
var (
	Bg          = bg
	TrackOf     = track
	ReadEncoded = readEncoded
	WaitFailed  = waitFailed
	NoFailure   = noFailure
)

// CountingMic is the internal tests' counting MicrophoneOpener.
type CountingMic = countingMic

// Counts reports opens, closes, closes of an already closed stream, and
// opens refused because a stream was still open.
func (c *countingMic) Counts() (opens, closes, double, bad int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens, c.closes, c.double, c.bad
}

// HandleAudio plays the DP's Opus voice that read returns, as HandleTrack
// does with an audio track: a test that counts what reaches the speaker
// reads the track itself.
func (s *Sink) HandleAudio(ctx context.Context, read func() (*rtp.Packet, error)) {
	s.handleAudio(ctx, read)
}
