package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
)

// TestReloadAppliesICECredentials: server.ice_servers' credential_file is
// read at start and at each reload (docs/BEHAVIOUR.md section 13): a new
// credential alone, config file untouched, is a changed configuration and
// starts a second generation with it; neither credential reaches the log.
// (The TURN server is unreachable: the call connects directly, as with
// policy all; internal/netlab shows a call through a real coturn.)
func TestReloadAppliesICECredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	lab := writeLab(t, dp, "")
	cred := filepath.Join(lab.dir, "turn-credential")
	oldCred, newCred := "old-turn-credential-0123", "new-turn-credential-4567"
	if err := os.WriteFile(cred, []byte(oldCred+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(lab.config)
	if err != nil {
		t.Fatal(err)
	}
	ice := "server:\n  ice_servers:\n    - urls: [\"turn:127.0.0.1:9?transport=tcp\"]\n      username: kiosk\n      credential_file: " + cred + "\n"
	if err := os.WriteFile(lab.config, []byte(strings.Replace(string(cfg), "server:\n", ice, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
	p.waitRecords(t, ctx, "Connected", nConnected(1))

	if err := os.WriteFile(cred, []byte(newCred+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	recs := p.waitRecords(t, ctx, "Connected after the credential changed", nConnected(2))
	if countMsg(recs, "reload: the configuration changed") != 1 {
		t.Fatal("a new credential was not taken as a changed configuration")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if strings.Contains(l, oldCred) || strings.Contains(l, newCred) {
			t.Fatalf("a log line shows a TURN credential: %s", l)
		}
	}
}
