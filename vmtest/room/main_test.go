package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/kioskd/kioskd/av/analysis"
)

func tone(hz, amp float64, n int) []int16 {
	x := make([]int16, n)
	for i := range x {
		x[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*hz*float64(i)/sampleRate)))
	}
	return x
}

// What comes out is the speaker's 880 Hz 6 dB down and the visitor's 440 Hz
// at -30 dBFS, through the raw S16_LE stream the sound tools use.
func TestRoomEchoAndVisitor(t *testing.T) {
	r, err := NewRoom(-6, 440, -30)
	if err != nil {
		t.Fatal(err)
	}
	played := tone(880, 0.3, sampleRate) // dpsim's voice: -10.5 dBFS
	var in, out bytes.Buffer
	if err := binary.Write(&in, binary.LittleEndian, played); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(&in, &out); err != nil {
		t.Fatal(err)
	}
	heard := make([]int16, out.Len()/2)
	if err := binary.Read(&out, binary.LittleEndian, heard); err != nil {
		t.Fatal(err)
	}
	if len(heard) != len(played) {
		t.Fatalf("%d samples out of %d", len(heard), len(played))
	}
	echo := analysis.LevelDBFS(heard, sampleRate, 880)
	visitor := analysis.LevelDBFS(heard, sampleRate, 440)
	if math.Abs(echo-(-16.5)) > 0.5 || math.Abs(visitor-(-30)) > 0.5 {
		t.Fatalf("echo %.1f dBFS (want -16.5), visitor %.1f dBFS (want -30)", echo, visitor)
	}
}

func TestRoomRefusesImpossibleSettings(t *testing.T) {
	for _, c := range []struct{ echo, hz, dbfs float64 }{{6, 440, -30}, {-6, 30000, -30}, {-6, 440, 3}} {
		if _, err := NewRoom(c.echo, c.hz, c.dbfs); err == nil {
			t.Errorf("NewRoom(%v) accepted", c)
		}
	}
}
