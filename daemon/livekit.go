package daemon

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dialect/livekit"
)

// The livekit dialect moves a live call to a changed network itself
// (LiveKit's in-call resume with an ICE restart): watchNetwork feeds it.
var _ NetworkChanger = (*livekit.Dialect)(nil)

// newLiveKit builds the livekit dialect. It is in every build: its client
// is kioskd's own (no LiveKit SDK or generated protobuf package), which
// costs a Connected kiosk nothing measurable (docs/LIVEKIT.md,
// "Measurements").
func newLiveKit(cfg *config.Config, token string, tlsCfg *tls.Config, opts Options) (dialect.Dialect, error) {
	peer, err := peerOptions(cfg)
	if err != nil {
		return nil, err
	}
	d, err := livekit.New(livekit.Config{
		Peer: peer, URL: cfg.Server.URL, Token: token, TLS: tlsCfg,
		TokenEndpoint: cfg.Server.TokenEndpoint, AllowInsecure: cfg.Server.AllowInsecure,
		Room: cfg.Server.LiveKit.Room, Identity: cfg.Server.LiveKit.Identity, DPIdentity: cfg.Server.LiveKit.DPIdentity,
		AgentName: cfg.Server.LiveKit.AgentName,
		DPSilence: dpSilence(cfg.Server.LiveKit.DPSilence),
		Clock:     opts.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return d, nil
}

// dpSilence is server.livekit.dp_silence for the dialect, where 0 is its
// default and a negative bound turns the watch off (the key's 0s).
func dpSilence(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
