package version

import (
	"testing"
	"time"
)

func TestBuildTimeFromLinkTime(t *testing.T) {
	old := BuildDate
	t.Cleanup(func() { BuildDate = old })
	BuildDate = "2026-12-01T10:00:00Z"
	if got := BuildTime(); !got.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("BuildTime = %v", got)
	}
	// A test binary has no vcs.time: unknown is the zero time, not now.
	BuildDate = "not a date"
	if got := BuildTime(); !got.IsZero() && got.After(time.Now()) {
		t.Fatalf("BuildTime = %v", got)
	}
}
