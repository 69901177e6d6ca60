package dpsim

import (
	"testing"

	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/synthetic"
)

// The kiosk's audio with packets missing: a lost voiced packet whose
// successor carries in-band FEC comes back from it (counted), the others
// are concealed, and every lost frame is written, in order, so the
// analysis sees 20 ms for every 20 ms sent.
func TestDecodeAudioRecoversFromFEC(t *testing.T) {
	enc, err := opus.NewEncoder(48000, 1, opus.VoIP)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	for _, err := range []error{enc.SetBitrate(32000), enc.SetInbandFEC(true), enc.SetPacketLossPerc(5)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	voice := synthetic.Voice{SampleRate: 48000}
	frame := make([]int16, 960)
	out := make([]byte, 1500)
	var pkts [][]byte
	for range 201 { // the last one received
		voice.Fill(frame)
		n, err := enc.Encode(frame, out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), out[:n]...))
	}

	dec, err := opus.NewDecoder(48000, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pcm := make([]int16, opus.MaxFrameSamples(48000))
	// Every 7th packet lost, and pairs (the 20th and 21st of every 50):
	// of a pair, only the second can come back.
	drop := func(i int) bool { return i%7 == 3 || i%50 == 20 || i%50 == 21 }
	samples, recovered, wantRecovered, lost := 0, 0, 0, 0
	for i, p := range pkts {
		if drop(i) {
			lost++
			continue
		}
		if lost > 0 && opus.HasFEC(p) {
			wantRecovered++
		}
		got, bad := decodeAudio(dec, p, lost, pcm, func(p []int16) { samples += len(p) })
		if bad {
			t.Fatalf("packet %d refused", i)
		}
		if got {
			recovered++
		}
		lost = 0
	}
	if samples != len(pkts)*960 {
		t.Errorf("%d samples written for %d packets of 960", samples, len(pkts))
	}
	if recovered != wantRecovered || recovered < 10 {
		t.Errorf("%d frames recovered from FEC, want %d (the lost ones followed by a packet with FEC, at least 10)", recovered, wantRecovered)
	}
}
