package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

func TestWatchDevicesSignalsOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	clk := clocktest.New(time.Unix(0, 0))
	changes := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { watchDevices(ctx, clk, time.Second, []string{dir}, changes); close(done) }()
	clk.BlockUntil(1)

	clk.Advance(time.Second)
	select {
	case <-changes:
		t.Fatal("signalled without a change")
	default:
	}
	if err := os.WriteFile(filepath.Join(dir, "usb-cam-video-index0"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The tick is delivered to the watcher's goroutine; advance until it has
	// seen the new listing.
	for i := 0; i < 100; i++ {
		clk.Advance(time.Second)
		select {
		case <-changes:
			cancel()
			<-done
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("a new device was not signalled")
}
