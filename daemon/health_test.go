package daemon_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// TestHealthMetrics: LED-class LEDs that do not exist leave kioskd without
// LEDs, which kioskd_leds_up{backend="ledclass"} says (0), while the test
// camera and microphone read as up and the speaker, configured none, has
// no series.
func TestHealthMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	cfg.LEDs.Backend = config.BackendLEDClass
	cfg.LEDs.LEDClassRoot = t.TempDir() // empty
	cfg.LEDs.Lines = map[string]string{"red": "kiosk:red", "amber": "kiosk:amber", "green": "kiosk:green"}
	cfg.Status.MetricsListen = freeAddr(t)
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{Log: testlog.New(t, slog.LevelInfo), Observers: []func(<-chan contract.Event){rec.Observe}})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 })
	var m map[string]float64
	for {
		m, err = scrape(ctx, "http://"+cfg.Status.MetricsListen+"/metrics")
		if err == nil {
			break
		}
		select {
		case <-time.After(20 * time.Millisecond): // the endpoint starts beside the session
		case <-ctx.Done():
			t.Fatalf("no metrics: %v", err)
		}
	}
	for k, want := range map[string]float64{
		`kioskd_leds_up{backend="ledclass"}`:    0,
		`kioskd_device_up{device="camera"}`:     1,
		`kioskd_device_up{device="microphone"}`: 1,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if _, ok := m[`kioskd_device_up{device="speaker"}`]; ok {
		t.Error("speaker none has a series")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
