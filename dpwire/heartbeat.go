package dpwire

import "time"

// DefaultHeartbeat is the ping interval both sides use until the server's
// session message names another (heartbeat_ms), and a peer silent for
// MissedHeartbeats intervals is dead (docs/PROTOCOL.md section 11).
const (
	DefaultHeartbeat = 5 * time.Second
	MissedHeartbeats = 3
)
