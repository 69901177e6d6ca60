// Package aec cleans up the kiosk's microphone before it is encoded: it
// removes the echo of the Digital Person's voice that the speaker beside
// it plays (speexdsp's adaptive filter, then its residual echo
// suppressor), and optionally steady noise and the talker's level.
//
// kioskd plays and captures in the same process, so it cancels exactly
// what it played: a Reference receives every block the speaker is handed
// and keeps it on a timeline; a Processor per open microphone aligns each
// capture chunk to that timeline, estimates the playback-to-capture delay
// from the audio itself (GCC-PHAT) and runs the canceller there. How it
// works, why speexdsp, and what it measures: README.md beside this file.
//
// It is a package of its own, apart from audio (the devices) and media
// (the tracks), because it is signal processing that neither needs: it
// works on plain PCM frames, and aectest and the benchmarks drive it with
// a simulated room and no device at all.
package aec
