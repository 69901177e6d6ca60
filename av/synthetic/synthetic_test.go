package synthetic

import (
	"image"
	"io"
	"math"
	"testing"

	"github.com/pion/mediadevices/pkg/wave"
)

func TestVideoFrameSizeAndClose(t *testing.T) {
	v := NewVideo(64, 48, 1000)
	img, _, err := v.Read()
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
		t.Fatalf("frame is %v, want 64x48", b)
	}
	if _, ok := img.(*image.YCbCr); !ok {
		t.Fatalf("frame is %T, want I420", img)
	}
	v.Close()
	v.Close() // twice is fine
	if _, _, err := v.Read(); err != io.EOF {
		t.Fatalf("Read after Close: %v, want EOF", err)
	}
}

func TestToneIsASineOfTheFrequency(t *testing.T) {
	tone := NewTone(440, 48000)
	defer tone.Close()
	a, _, err := tone.Read()
	if err != nil {
		t.Fatal(err)
	}
	pcm := a.(*wave.Int16Interleaved)
	if len(pcm.Data) != 960 {
		t.Fatalf("chunk has %d samples, want 960 (20 ms at 48 kHz)", len(pcm.Data))
	}
	// Count zero crossings: 440 Hz over 20 ms crosses zero ~17.6 times.
	crossings := 0
	for i := 1; i < len(pcm.Data); i++ {
		if (pcm.Data[i-1] < 0) != (pcm.Data[i] < 0) {
			crossings++
		}
	}
	if math.Abs(float64(crossings)-17.6) > 1.5 {
		t.Fatalf("%d zero crossings in 20 ms, want about 17.6 for 440 Hz", crossings)
	}
}
