// Package audiotest lets tests run kioskd's real ALSA code without a sound
// card: it writes an ALSA configuration whose microphone and speaker PCMs
// are files, and reads and writes the raw 16-bit mono those files hold. It
// lives apart from audio so production binaries do not carry it, and it
// imports nothing of kioskd so that audio's own tests can use it.
package audiotest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// SampleRate is the rate of the raw files: audio.SampleRate, the rate
// kioskd captures and plays at (audiotest's test checks they agree).
const SampleRate = 48000

// WriteConfig writes an ALSA configuration for tests into dir and
// returns its path; point ALSA_CONFIG_PATH at it (before the first device
// is opened in the process, or with a new path: libasound reloads its
// configuration when the list of files or their mtimes change). It defines:
//
//	pcm.null       discards / reads silence (no sound card needed)
//	pcm.<mic>      a `file` PCM that captures the raw S16_LE mono file
//	               micFile (looping is libasound's business; missing file:
//	               the open fails, as a missing microphone does)
//	pcm.<speaker>  a `file` PCM that writes what is played to speakerFile
//
// Both are unpaced: they move samples as fast as they are asked to, so
// tests count samples, never wall time.
func WriteConfig(dir, mic, micFile, speaker, speakerFile string) (string, error) {
	var b strings.Builder
	b.WriteString("pcm.null {\n  type null\n}\n")
	if mic != "" {
		fmt.Fprintf(&b, "pcm.%s {\n  type file\n  slave.pcm \"null\"\n  file \"/dev/null\"\n  infile %q\n  format \"raw\"\n  hint {\n    show on\n    description \"kioskd test microphone\"\n  }\n}\n", mic, micFile)
	}
	if speaker != "" {
		fmt.Fprintf(&b, "pcm.%s {\n  type file\n  slave.pcm \"null\"\n  file %q\n  format \"raw\"\n  hint {\n    show on\n    description \"kioskd test speaker\"\n  }\n}\n", speaker, speakerFile)
	}
	path := filepath.Join(dir, "asound.conf")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// WriteToneFile writes seconds of a hz sine (amplitude 0.5 of full scale)
// as raw S16_LE mono at 48 kHz, the input of a test microphone.
func WriteToneFile(path string, hz, seconds float64) error {
	n := int(seconds * SampleRate)
	buf := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := int16(0.5 * 32767 * math.Sin(2*math.Pi*hz*float64(i)/SampleRate))
		binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
	}
	return os.WriteFile(path, buf, 0o644)
}

// ReadRawFile reads a raw S16_LE mono file (what a test speaker wrote).
func ReadRawFile(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out, nil
}
