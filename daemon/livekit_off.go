//go:build !livekit

package daemon

import (
	"fmt"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect"
)

// ErrNoLiveKit: this kioskd was built without the livekit dialect.
//
// The dialect is built only with the tag livekit for now: LiveKit's Go SDK
// raises the PSS of every kiosk, whatever its dialect, from about 34 to
// about 46 MiB, past the 40 MB target of docs/BEHAVIOUR.md section 14
// (docs/LIVEKIT.md). `make test` builds and tests it; the shipped binary
// leaves it out until it fits.
var ErrNoLiveKit = fmt.Errorf("%w: server.dialect: livekit needs a kioskd built with the tag livekit (docs/LIVEKIT.md)", config.ErrInvalid)

func newLiveKit(*config.Config, string, Options) (dialect.Dialect, error) {
	return nil, ErrNoLiveKit
}
