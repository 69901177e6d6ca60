package media

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
