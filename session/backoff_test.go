package session

import (
	"testing"
	"time"
)

func TestBackoffGrowsToMaxWithFullJitter(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 30 * time.Second, Rand: func() float64 { return 0.999999 }}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range want {
		if c := b.Ceiling(); c != w*time.Second {
			t.Fatalf("attempt %d: ceiling %v, want %v", i, c, w*time.Second)
		}
		d := b.Next()
		if d > w*time.Second || d < w*time.Second*99/100 {
			t.Fatalf("attempt %d: delay %v, want just under %v", i, d, w*time.Second)
		}
	}
	b.Reset()
	if b.Ceiling() != time.Second {
		t.Fatal("Reset did not start over")
	}
	b.Rand = func() float64 { return 0 }
	if d := b.Next(); d != 0 {
		t.Fatalf("full jitter must reach 0, got %v", d)
	}
}
