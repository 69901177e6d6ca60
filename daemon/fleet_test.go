package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/internal/identity"
	"github.com/kioskd/kioskd/internal/version"
	"github.com/kioskd/kioskd/leds/ledstest"
	"github.com/kioskd/kioskd/logging"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// lines is an io.Writer a test waits on: what a console LED backend or a
// logger wrote, line by line.
type lines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *lines) waitFor(t *testing.T, ctx context.Context, what string, cond func(string) bool) string {
	t.Helper()
	for {
		l.mu.Lock()
		s, changed := l.buf.String(), l.changed
		l.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; got:\n%s", what, s)
		}
	}
}

const machineID = "0123456789abcdef0123456789abcdef"

func machineIDFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "machine-id")
	if err := os.WriteFile(path, []byte(machineID+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartLineAndUpgradeCarryTheKioskIdentity: the start line says which
// build runs on which kiosk (version, hashed machine id, host name, where
// the token came from), the server hears the same kiosk id in the
// upgrade's Kioskd-Kiosk-Id header (dpsim keeps it as client.kiosk_id),
// and the raw machine id appears nowhere.
func TestStartLineAndUpgradeCarryTheKioskIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	logs := newLines()
	rec := sessiontest.NewRecorder()
	// Through the redacting handler kioskd runs with, token as a secret.
	log, _, err := logging.New(logging.FormatJSON, logs, logging.Options{Secrets: []string{dp.Token}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Options{
		Log:           log,
		LEDs:          ledstest.New(clock.Real),
		Observers:     []func(<-chan contract.Event){rec.Observe},
		TokenSource:   "server.token_file " + cfg.Server.TokenFile,
		MachineIDFile: machineIDFile(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	id := connectedIDs(rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 }))[0]

	want := identity.KioskID(machineID)
	info, ok := dp.Session(id)
	if !ok || info.Client.KioskID != want || info.Client.Name != "kioskd" || info.Client.Version != version.Version {
		t.Fatalf("the server recorded client %+v, want kiosk_id %s", info.Client, want)
	}
	host, _ := os.Hostname()
	start := logs.waitFor(t, ctx, "the start lines", func(s string) bool { return strings.Contains(s, `"msg":"the server token comes from`) })
	for _, w := range []string{`"version":"` + version.Version + `"`, `"machine_id_hash":"` + want + `"`, `"hostname":"` + host + `"`,
		`"msg":"the server token comes from server.token_file ` + cfg.Server.TokenFile + `"`} {
		if !strings.Contains(start, w) {
			t.Errorf("the start lines lack %s:\n%s", w, start)
		}
	}
	if strings.Contains(logs.String(), machineID) || strings.Contains(logs.String(), dp.Token) {
		t.Fatal("the raw machine id or the token reached the log")
	}
}

// TestApplyLEDsKeepsTheSession: a reload that changes only the leds
// section (systemctl reload with a new LED profile in a drop-in) switches
// the LEDs while Connected without touching the session: same session id,
// no Disconnected, one connect on the server, and the new LEDs show
// Connected at once.
func TestApplyLEDsKeepsTheSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	cfg := labConfig(t, dp)
	cfg.LEDs.Backend = config.BackendConsole
	console := newLines()
	rec := sessiontest.NewRecorder()
	d, err := daemon.New(cfg, daemon.Options{
		Log:           slog.New(slog.DiscardHandler),
		Console:       console,
		Observers:     []func(<-chan contract.Event){rec.Observe},
		MachineIDFile: machineIDFile(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ApplyLEDs(cfg.LEDs); !errors.Is(err, daemon.ErrNotRunning) {
		t.Fatalf("ApplyLEDs before Run: %v", err)
	}
	stop := run(t, d)
	id := connectedIDs(rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool { return len(connectedIDs(evs)) > 0 }))[0]
	console.waitFor(t, ctx, "green at Connected", func(s string) bool { return strings.Contains(s, "LEDs: red ○ amber ○ green ●\n") })

	bar := cfg.LEDs
	bar.Profile = config.ProfileBar
	bar.Lines = map[string]string{"step1": "a", "step2": "b", "step3": "c", "step4": "d"}
	if err := d.ApplyLEDs(bar); err != nil {
		t.Fatal(err)
	}
	console.waitFor(t, ctx, "the bar profile showing Connected", func(s string) bool {
		return strings.Contains(s, "LEDs: step1 ● step2 ● step3 ● step4 ●\n")
	})
	// And back, twice in a row: each switch turns the old LEDs off and
	// releases them; the last one shows Connected.
	for range 2 {
		if err := d.ApplyLEDs(cfg.LEDs); err != nil {
			t.Fatal(err)
		}
		if err := d.ApplyLEDs(bar); err != nil {
			t.Fatal(err)
		}
	}
	console.waitFor(t, ctx, "the bar profile again", func(s string) bool {
		return strings.HasSuffix(s, "LEDs: step1 ● step2 ● step3 ● step4 ●\n") && strings.Count(s, "LEDs: step1 ● step2 ● step3 ● step4 ●\n") >= 2
	})
	evs, _ := rec.Snapshot()
	connected := false
	for _, e := range evs {
		if connected && (e.Kind == contract.EventDisconnected || e.Kind == contract.EventState) {
			t.Fatalf("the session moved after Connected:\n%s", sessiontest.Describe(evs))
		}
		connected = connected || (e.Kind == contract.EventState && e.State == contract.Connected)
	}
	if ids := connectedIDs(evs); len(ids) != 1 || ids[0] != id {
		t.Fatalf("Connected %v, want once as %s", ids, id)
	}
	if info, _ := dp.Session(id); info.Connects != 1 || info.Resumes != 0 {
		t.Fatalf("the server saw %+v", info)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := d.ApplyLEDs(bar); !errors.Is(err, daemon.ErrNotRunning) {
		t.Fatalf("ApplyLEDs after Run: %v", err)
	}
	if !strings.HasSuffix(console.String(), "LEDs: step1 ○ step2 ○ step3 ○ step4 ○\n") {
		t.Fatalf("the LEDs after Run:\n%s", console.String())
	}
}
