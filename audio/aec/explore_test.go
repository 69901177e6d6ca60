package aec_test

import (
	"testing"
	"time"

	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/audio/aec/aectest"
)

func TestExplore(t *testing.T) {
	for _, far := range []string{aectest.FarTone, aectest.FarSpeech} {
		for _, d := range []int{20, 60, 120} {
			r, _, err := aectest.Run(aectest.Scenario{Far: far, Delay: time.Duration(d) * time.Millisecond, Options: aec.Options{EchoCancellation: true}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %d ms: %v", far, d, r)
		}
	}
}
