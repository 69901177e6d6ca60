package systemd

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

type fakeNotifier struct {
	mu    sync.Mutex
	clk   *clocktest.Clock
	pings []time.Time
	err   error
}

func (f *fakeNotifier) Notify(state string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != "WATCHDOG=1" {
		panic("watchdog sent " + state)
	}
	if f.err != nil {
		return false, f.err
	}
	f.pings = append(f.pings, f.clk.Now())
	return true, nil
}

func (f *fakeNotifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pings)
}

func TestNewWatchdogErrors(t *testing.T) {
	if _, err := NewWatchdog(WatchdogConfig{LastProgress: time.Now}); !errors.Is(err, ErrNoInterval) {
		t.Errorf("no interval: %v", err)
	}
	if _, err := NewWatchdog(WatchdogConfig{Interval: time.Second}); !errors.Is(err, ErrNoLiveness) {
		t.Errorf("no liveness: %v", err)
	}
}

func TestWatchdogRateAndStall(t *testing.T) {
	fc := clocktest.New(time.Unix(1_700_000_000, 0))
	n := &fakeNotifier{clk: fc}
	var mu sync.Mutex
	last := fc.Now()
	lastProgress := func() time.Time { mu.Lock(); defer mu.Unlock(); return last }
	mark := func() { mu.Lock(); last = fc.Now(); mu.Unlock() }

	wd, err := NewWatchdog(WatchdogConfig{Interval: 2 * time.Second, MaxStall: 3 * time.Second, LastProgress: lastProgress, Clock: fc, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- wd.Run(context.Background()) }()
	fc.BlockUntil(1)
	if err := wd.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	step := func() { fc.Advance(time.Second); fc.BlockUntil(1) }

	// 10 s of a live supervisor reporting every second: 1 + 10 pings, 1 s apart.
	for i := 0; i < 10; i++ {
		mark()
		step()
	}
	if got := n.count(); got != 11 {
		t.Fatalf("pings while live = %d, want 11 (one per Interval/2)", got)
	}
	for i := 1; i < len(n.pings); i++ {
		if d := n.pings[i].Sub(n.pings[i-1]); d != time.Second {
			t.Fatalf("ping %d came %v after the previous, want 1s", i, d)
		}
	}

	// Stall (last progress was 1 s ago): 2 and 3 s old still ping
	// (MaxStall 3 s); 4..9 s old does not.
	for i := 0; i < 8; i++ {
		step()
	}
	if got := n.count(); got != 13 {
		t.Fatalf("pings after stall = %d, want 13 (2 more, then none)", got)
	}

	// A failing notifier is not fatal; pings go on once it works again.
	mark()
	n.mu.Lock()
	n.err = errors.New("socket gone")
	n.mu.Unlock()
	step()
	n.mu.Lock()
	n.err = nil
	n.mu.Unlock()
	mark()
	step()
	if got := n.count(); got != 14 {
		t.Fatalf("pings after recovery = %d, want 14", got)
	}

	if err := wd.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run after Close = %v, want nil", err)
	}
	if err := wd.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	wd.Close() // twice is fine
}
