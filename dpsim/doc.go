// Package dpsim is the reference Digital Person server: the server side of
// docs/PROTOCOL.md (kioskd.dp.v1) with a real WebSocket control channel and
// real pion WebRTC media. Its Digital Person is a synthetic video track and
// a voice that is a tone; it accounts for what the kiosk sends (VP8 frames
// and their size, Opus packets, the dominant frequency and the level of its
// own voice in the kiosk's audio, i.e. the echo). A Scenario scripts
// delays and faults. An admin API (loopback only) lists sessions and closes
// or drops them (docs/BEHAVIOUR.md section 12).
//
// It is a second, independent implementation of the protocol: it shares
// the wire format (dpwire) and the media building blocks (av/...) with
// kioskd, and nothing of kioskd's session, dialects or media, so that a
// test against it checks the protocol and not the client's code against
// itself.
//
// The parts:
//   - server.go: Server, the HTTP handlers, the session list and counters;
//     session.go: what the server records of a session.
//   - conn.go and table.go: one control connection, a state machine read
//     as a table, (state, input) → (next state, action).
//   - wsconn.go: the server side of the WebSocket, which can misbehave on
//     purpose (raw frames, silence, cuts).
//   - webrtc.go and codecs.go: the answer, the DP's tracks, the accounting
//     of the kiosk's.
//   - config.go, flags.go: Config, Scenario and their flags; admin.go: the
//     admin API.
//
// It is for tests (see dpsim/dptest), benchmarks, demos and integrators'
// labs; it is not a production server.
package dpsim
