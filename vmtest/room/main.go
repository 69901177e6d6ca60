// Command room is the VM system test's acoustic room, between two snd-aloop
// loopbacks: what the kiosk's speaker plays comes in on stdin (from
// `arecord` on the speaker's loopback), and goes out on stdout (to `aplay`
// into the microphone's loopback) attenuated, as the echo a microphone
// picks up beside a speaker, mixed with a visitor's voice (a tone). Audio
// is raw S16_LE, mono, 48 kHz. A test tool: not shipped.
//
//	arecord -t raw -f S16_LE -r 48000 -c 1 -D hw:Loopback,1,2 |
//	  room -echo-db -6 -visitor-hz 440 -visitor-dbfs -30 |
//	  aplay -t raw -f S16_LE -r 48000 -c 1 -D hw:Loopback,0,3
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
)

const sampleRate = 48000

// Room mixes the echo of what the speaker played with the visitor's tone.
type Room struct {
	echoGain  float64 // linear
	visitorHz float64
	visitorA  float64 // peak, full scale = 1; 0: no visitor
	n         int64   // samples so far (the visitor's phase)
}

// NewRoom returns a room whose echo is echoDB (<= 0) below what the speaker
// plays and whose visitor is a tone of visitorHz at visitorDBFS (a
// full-scale sine is 0 dBFS); visitorHz 0 means no visitor.
func NewRoom(echoDB, visitorHz, visitorDBFS float64) (*Room, error) {
	if echoDB > 0 {
		return nil, fmt.Errorf("echo %.1f dB: an echo is quieter than the speaker (want <= 0)", echoDB)
	}
	if visitorHz < 0 || visitorHz >= sampleRate/2 {
		return nil, fmt.Errorf("visitor at %.1f Hz: want 0 (none) or below %d Hz", visitorHz, sampleRate/2)
	}
	if visitorDBFS > 0 {
		return nil, fmt.Errorf("visitor at %.1f dBFS: want <= 0", visitorDBFS)
	}
	r := &Room{echoGain: math.Pow(10, echoDB/20), visitorHz: visitorHz}
	if visitorHz > 0 {
		r.visitorA = math.Pow(10, visitorDBFS/20)
	}
	return r, nil
}

// Mix replaces played (what the speaker played) with what the microphone
// hears.
func (r *Room) Mix(played []int16) {
	w := 2 * math.Pi * r.visitorHz / sampleRate
	for i, s := range played {
		v := float64(s)*r.echoGain + r.visitorA*32767*math.Sin(w*float64(r.n))
		r.n++
		played[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
}

// Run mixes in to out, 10 ms at a time, flushing each block at once (the
// delay of the path is the sound cards' buffers, not this program's).
func (r *Room) Run(in io.Reader, out io.Writer) error {
	block := make([]int16, sampleRate/100)
	raw := make([]byte, 2*len(block))
	for {
		if _, err := io.ReadFull(in, raw); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		for i := range block {
			block[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		r.Mix(block)
		for i, s := range block {
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
		}
		if _, err := out.Write(raw); err != nil {
			return err
		}
	}
}

func main() {
	echoDB := flag.Float64("echo-db", -6, "level of the echo relative to what the speaker plays, dB")
	visitorHz := flag.Float64("visitor-hz", 440, "the visitor's tone, Hz (0: no visitor)")
	visitorDBFS := flag.Float64("visitor-dbfs", -30, "the visitor's level, dBFS")
	flag.Parse()
	r, err := NewRoom(*echoDB, *visitorHz, *visitorDBFS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "room:", err)
		os.Exit(2)
	}
	if err := r.Run(bufio.NewReaderSize(os.Stdin, 4096), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "room:", err)
		os.Exit(1)
	}
}
