package daemon

import (
	"testing"
	"time"
)

// TestShutdownBudget: the stages of a shutdown, each bounded, add up to
// less than the 5 s docs/BEHAVIOUR.md section 10 allows after SIGTERM, with
// room left for the process to exit.
func TestShutdownBudget(t *testing.T) {
	const promise = 5 * time.Second
	if sum := ShutdownGrace + drainGrace + stopGrace + mediaCloseGrace; sum > promise-500*time.Millisecond {
		t.Fatalf("shutdown stages add up to %v; want at most %v", sum, promise-500*time.Millisecond)
	}
}
