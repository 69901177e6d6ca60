// Package contract is the vocabulary of kioskd's behaviour contract
// (docs/BEHAVIOUR.md sections 1 to 3): the five connection states with
// their exact numbers, the eight error names, the four disconnect reasons,
// the events the session publishes and the bus that carries them, and the
// snapshot a status query reads.
//
// It imports only the standard library, so that everything that shows or
// reports the state (LEDs, logs, systemd, the status socket, metrics) can
// read a state name without linking the WebRTC engine, and so that a
// signalling dialect maps its own signals onto the same names.
package contract
