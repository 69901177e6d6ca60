package dpwire

import "time"

// DefaultHeartbeat is the ping interval both sides use until the server's
// session message names another (heartbeat_ms), and a peer silent for
// MissedHeartbeats intervals is dead (docs/PROTOCOL.md section 11).
const (
	DefaultHeartbeat = 5 * time.Second
	MissedHeartbeats = 3
)

// MinHeartbeat and MaxHeartbeat bound the interval a server may name in
// heartbeat_ms (docs/PROTOCOL.md section 4.2); a session message naming
// another is malformed. Below a second the pings are traffic for nothing,
// and a verdict of death within three of them would drop healthy kiosks on
// a Wi-Fi hiccup. Above 30 s, proxies and load balancers with the common
// 60 s idle timeout may cut the socket between two pings, and a dead
// server would keep a kiosk Connected for over a minute and a half.
const (
	MinHeartbeat = time.Second
	MaxHeartbeat = 30 * time.Second
)
