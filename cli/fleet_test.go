package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/status"
)

// shippedWithDropIn is the layout of a packaged kiosk: the shipped file
// as it is (server.url empty, as packaging/build.sh makes it) and the
// kiosk's own settings in a drop-in.
func shippedWithDropIn(t *testing.T, site string) string {
	t.Helper()
	data, err := os.ReadFile("../configs/kioskd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shipped := strings.Replace(string(data), "\n  url: wss://dp.example.com/v1/session\n", "\n  url: \"\"\n", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "kioskd.yaml")
	if err := os.WriteFile(path, []byte(shipped), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(config.DropInDir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if site != "" {
		if err := os.WriteFile(filepath.Join(config.DropInDir(path), "50-site.yaml"), []byte(site), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestCheckConfigWithADropInAndShow(t *testing.T) {
	t.Setenv(config.EnvToken, "")
	t.Setenv(config.EnvCredentials, "")
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The shipped file alone is refused, pointing at a drop-in.
	path := shippedWithDropIn(t, "")
	var out, errOut bytes.Buffer
	if code := Main([]string{"check-config", "--config", path}, &out, &errOut); code != exitConfig ||
		!strings.Contains(errOut.String(), "server.url: required") || !strings.Contains(errOut.String(), "kioskd.yaml.d/50-site.yaml") {
		t.Fatalf("shipped file alone: %d %q", code, errOut.String())
	}
	path = shippedWithDropIn(t, "server:\n  url: wss://dp.site.example/v1/session\n  token_file: "+token+"\n")
	out.Reset()
	errOut.Reset()
	if code := Main([]string{"check-config", "--config", path}, &out, &errOut); code != 0 || out.String() != path+": OK\n" {
		t.Fatalf("with the drop-in: %d %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := Main([]string{"check-config", "--config", path, "--show"}, &out, &errOut); code != 0 {
		t.Fatalf("--show: %d %q", code, errOut.String())
	}
	site := filepath.Join(config.DropInDir(path), "50-site.yaml")
	if !regexp.MustCompile(`(?m)^  url: wss://dp\.site\.example/v1/session +# `+regexp.QuoteMeta(site)+`:2$`).MatchString(out.String()) ||
		!strings.Contains(out.String(), "# token: server.token_file "+token+" (never shown)\n") {
		t.Errorf("--show does not name the drop-in's url and the token's source:\n%s", out.String())
	}
	if strings.Contains(out.String(), "token-0123456789abcdef") {
		t.Fatal("--show printed the token")
	}
	// As the unit's ExecCondition: a token not readable there (it may come
	// as a credential, which systemd gives kioskd run only) is no failure;
	// without --condition it is.
	unreadable := filepath.Join(t.TempDir(), "missing-token")
	path2 := shippedWithDropIn(t, "server:\n  url: wss://dp.site.example/v1/session\n  token_file: "+unreadable+"\n")
	out.Reset()
	errOut.Reset()
	if code := Main([]string{"check-config", "--config", path2, "--condition"}, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "not checked here") || !strings.Contains(errOut.String(), "credential kioskd-token") {
		t.Fatalf("--condition with the token to come as a credential: %d %q", code, errOut.String())
	}
	if code := Main([]string{"check-config", "--config", path2}, &out, &errOut); code != exitConfig {
		t.Fatalf("without --condition a missing token must be refused: %d", code)
	}
	// systemd 252 sets $CREDENTIALS_DIRECTORY for ExecCondition= but puts
	// no credential in it: the same.
	t.Setenv(config.EnvCredentials, t.TempDir())
	errOut.Reset()
	if code := Main([]string{"check-config", "--config", path2, "--condition"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "not checked here") {
		t.Fatalf("--condition with an empty credentials directory: %d %q", code, errOut.String())
	}
	// A credential that is there but bad is checked.
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "kioskd-token"), []byte("short"), 0o400); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvCredentials, bad)
	if code := Main([]string{"check-config", "--config", path2, "--condition"}, &out, &errOut); code != exitConfig {
		t.Fatalf("--condition with a bad credential: %d", code)
	}
	t.Setenv(config.EnvCredentials, "")
	if err := os.WriteFile(path2+".d/60-nocred.yaml", []byte("server:\n  token_credential: \"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := Main([]string{"check-config", "--config", path2, "--condition"}, &out, &errOut); code != exitConfig {
		t.Fatalf("--condition without a credential name must refuse a missing token: %d", code)
	}

	// A token file others may read: a warning, not a refusal.
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	if code := Main([]string{"check-config", "--config", path}, &out, &errOut); code != 0 ||
		!strings.Contains(errOut.String(), "warning: server.token_file "+token+" is readable by every user") {
		t.Fatalf("world-readable token: %d %q", code, errOut.String())
	}
}

// TestReloadAppliesADropIn: systemctl reload re-reads the drop-ins. A
// drop-in that changes only the leds section is applied to the running
// daemon (same process, same session, no Disconnected, no second start);
// one that changes anything else starts the session again with it.
func TestReloadAppliesADropIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	lab := writeLab(t, dp, "")
	// A token file every user may read: warned about once per process,
	// whatever the reloads and generations.
	tokenFile := filepath.Join(lab.dir, "token")
	if err := os.Chmod(tokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	notifyPath, notify := newNotifySocket(t)
	p := startKioskd(t, []string{"NOTIFY_SOCKET=" + notifyPath, config.EnvToken + "=", config.EnvCredentials + "="},
		"run", "--config", lab.config, "--log-format", "json")
	recs := p.waitRecords(t, ctx, "Connected", nConnected(1))
	id := connectedIDs(recs)[0]
	waitNotify(t, notify, "READY=1")
	waitLEDs(t, lab.leds, "at Connected", func(b map[string]string) bool { return b["green"] == "255" && b["red"] == "0" })
	dropIn := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(config.DropInDir(lab.config), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(config.DropInDir(lab.config), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitNotify(t, notify, "RELOADING=1")
	}

	// 1. The leds section only: the green role moves to the LED named
	// kiosk:red, at once, while the session goes on.
	dropIn("60-leds.yaml", "leds:\n  lines: {red: \"kiosk:green\", amber: \"kiosk:amber\", green: \"kiosk:red\"}\n")
	waitNotify(t, notify, "READY=1")
	recs = p.waitRecords(t, ctx, "the leds applied", hasMsg("the leds section changed; applied"))
	waitLEDs(t, lab.leds, "after the leds reload", func(b map[string]string) bool { return b["red"] == "255" && b["green"] == "0" })
	if st, err := status.Query(ctx, lab.socket); err != nil || st.State != "Connected" || st.SessionID != id {
		t.Fatalf("after the leds reload: %+v, %v", st, err)
	}
	if countMsg(recs, "kioskd started") != 1 || countMsg(recs, "disconnected") != 0 || len(connectedIDs(recs)) != 1 {
		t.Fatalf("the leds reload touched the session: %d starts, %d disconnects, Connected %v",
			countMsg(recs, "kioskd started"), countMsg(recs, "disconnected"), connectedIDs(recs))
	}

	// 2. Anything else: a new generation, resuming the same session.
	dropIn("70-media.yaml", "media:\n  fps: 12\n")
	recs = p.waitRecords(t, ctx, "Connected after a changed reload", nConnected(2))
	if countMsg(recs, "kioskd started") != 2 {
		t.Fatal("want a second generation after a changed drop-in")
	}
	if ids := connectedIDs(recs); ids[1] != id {
		t.Fatalf("the new generation connected %s, want the resumed %s", ids[1], id)
	}
	waitLEDs(t, lab.leds, "after the changed reload (the drop-in's lines)", func(b map[string]string) bool { return b["red"] == "255" && b["green"] == "0" })
	if n := countMsg(recs, tokenFile+" is readable by every user"); n != 1 {
		t.Fatalf("the token file warning was logged %d times over two generations, want once", n)
	}
}
