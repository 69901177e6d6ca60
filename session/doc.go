// Package session is the session supervisor: it keeps a kiosk connected to
// its Digital Person, whatever the signalling dialect.
//
// A Supervisor runs one call after another through a dialect.Dialect
// (dialect/dpv1 for kioskd.dp.v1; the composition root, package daemon,
// chooses it: this package imports no dialect). Around each call it owns
// what docs/BEHAVIOUR.md promises whatever the dialect:
//
//   - the reactions to each connect error and disconnect reason, with
//     exponential backoff and full jitter (sections 2 and 3; supervisor.go,
//     backoff.go);
//   - the stored session, resumed on every reconnect and across restarts
//     (section 4; store.go);
//   - the connect deadlines, a step's and the whole connect's: on expiry
//     the call is aborted and the dialect tells its server (section 5;
//     deadlines.go);
//   - liveness for the systemd watchdog: the supervisor shows progress
//     from the one place it waits, so a wedged supervisor stops the pings
//     (section 5; Supervisor.LastProgress);
//   - the kiosk's send tracks, which outlive calls: one relay slot per
//     kind, to which a capture track is bound once for its life and which
//     every call's PeerConnection binds (relay.go), and devices that
//     appear mid-call (Supervisor.hotplug);
//   - the events: every change is published once to every subscriber
//     (contract.Bus: LEDs, systemd, the status socket, metrics) and logged
//     here, synchronously, with the fields of section 9.
//
// sessiontest records a supervisor's events for tests.
package session
