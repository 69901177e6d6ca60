// Package lkdp is dpsim's LiveKit mode: a Digital Person that is a
// participant of a real LiveKit server's rooms, for the tests, demos and
// labs of kioskd's livekit dialect (docs/LIVEKIT.md).
//
// It watches the server's rooms through LiveKit's RoomService (polling
// ListRooms with an admin token), joins each new room that has someone in
// it as an AGENT participant, publishes a synthetic face (VP8) and a voice
// that is a tone (Opus) with dpsim's encoders, subscribes to the kiosk and
// accounts for what it receives with dpsim's own analysis
// (dpsim.Accounting: frames with their size, packets, dominant frequency,
// echo). Its admin API reports one record per room, whose id is the room
// name: kioskd's session id on that dialect. A Scenario scripts what a
// real DP platform can do to a kiosk: never join, join late, leave, remove
// the kiosk, delete the room; a token endpoint (LiveKit's standard one)
// can be served beside it, and can refuse or answer slowly.
//
// The participant is LiveKit's Go SDK: dpsim is a separate program (its
// own .deb), so the SDK's cost is dpsim's alone, and a second
// implementation of LiveKit's client checks kioskd's own rather than
// itself (docs/LIVEKIT.md, "dpsim's LiveKit mode"). Nothing of the kiosk's
// side is imported; package dpsim, which `kioskd demo` links, does not
// import this one.
//
// Secrets: the API secret and every token minted stay in memory; no log
// line, error or admin answer holds them.
//
// The parts: dp.go (DP, the room watcher), room.go (one room: join,
// publish, account, the scenario's timers), endpoint.go (the token
// endpoint), admin.go (the admin API), config.go (Config, Scenario, flags).
package lkdp
