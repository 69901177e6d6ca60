package cli

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/status"
)

// TestStatusShowsLastErrorWithWhatToCheck: `kioskd status` names the last
// error with its LED code and what it means, and what staff should check
// (the README's table).
func TestStatusShowsLastErrorWithWhatToCheck(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "status.sock")
	srv, err := status.NewServer(config.Status{Socket: sock}, status.ServerOptions{Snapshot: func() contract.Snapshot {
		return contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed, Attempt: 3}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, errOut bytes.Buffer
	if code := Main([]string{"status", "--socket", sock}, &out, &errOut); code != statusFailing {
		t.Fatalf("exit %d, want %d: %s", code, statusFailing, errOut.String())
	}
	for _, want := range []string{
		"Last error:  serverConnectionFailed, LED code 3: the server cannot be reached",
		"Check:       network cable / Wi-Fi, firewall, proxy\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Main([]string{"status", "--json", "--socket", sock}, &out, &errOut); code != statusFailing || !strings.Contains(out.String(), `"last_error_code": 3`) {
		t.Errorf("--json: exit %d\n%s", code, out.String())
	}
}

// lineProc is a command whose stdout and stderr lines are collected.
type lineProc struct {
	mu      sync.Mutex
	out     []string
	err     []string
	changed chan struct{}
	exited  chan error
}

func startLines(t *testing.T, args ...string) (*exec.Cmd, *lineProc) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "KIOSKD_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &lineProc{changed: make(chan struct{}), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	collect := func(r *bufio.Scanner, into *[]string) {
		defer wg.Done()
		for r.Scan() {
			p.mu.Lock()
			*into = append(*into, r.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}
	wg.Add(2)
	go collect(bufio.NewScanner(stdout), &p.out)
	go collect(bufio.NewScanner(stderr), &p.err)
	go func() { wg.Wait(); p.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, p
}

// waitFor waits until one line of stdout (or stderr) contains want.
func (p *lineProc) waitFor(t *testing.T, ctx context.Context, stderr bool, want string) {
	t.Helper()
	for {
		p.mu.Lock()
		lines, changed := p.out, p.changed
		if stderr {
			lines = p.err
		}
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, want)
		}
		p.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			t.Fatalf("timed out waiting for %q; stdout:\n%s\nstderr:\n%s", want, strings.Join(p.out, "\n"), strings.Join(p.err, "\n"))
			p.mu.Unlock()
		}
	}
}

// TestStatusWatchSurvivesADaemonRestart: `kioskd status --watch` (a real
// process) shows the whole session id; its status server (the one kioskd
// runs) stops: it says so and keeps running; a new one starts on the same
// socket: it says it reconnected and shows the new status; Ctrl-C ends it
// with 0.
func TestStatusWatchSurvivesADaemonRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sock := filepath.Join(t.TempDir(), "status.sock")
	const before = "dp-0123456789abcdef0123456789abcdef-before"
	const after = "dp-0123456789abcdef0123456789abcdef-after"
	serve := func(snap contract.Snapshot) *status.Server {
		srv, err := status.NewServer(config.Status{Socket: sock}, status.ServerOptions{Snapshot: func() contract.Snapshot { return snap }})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := serve(contract.Snapshot{State: contract.Connected, SessionID: before})
	cmd, p := startLines(t, "status", "--watch", "--socket", sock)
	p.waitFor(t, ctx, false, "Connected  session "+before)

	srv.Close()
	p.waitFor(t, ctx, true, "kioskd closed the status connection; reconnecting")
	srv = serve(contract.Snapshot{State: contract.DownloadingAssets, SessionID: after})
	defer srv.Close()
	p.waitFor(t, ctx, true, "reconnected to "+sock)
	p.waitFor(t, ctx, false, "DownloadingAssets  session "+after)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("--watch after Ctrl-C: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("--watch did not end after SIGINT")
	}
}
