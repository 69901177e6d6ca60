package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
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
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/leds/ledstest"
	"github.com/kioskd/kioskd/status"
)

// The test binary doubles as kioskd: with KIOSKD_TEST_MAIN set it runs the
// command line, so tests drive the real process (signals, exit codes,
// stderr) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("KIOSKD_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// proc is a running kioskd whose stderr lines are collected.
type proc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	exited  chan error
}

func startKioskd(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// sh -c 'exec' keeps the pid, so WATCHDOG_PID=$$ names kioskd itself.
	script := `WATCHDOG_PID=$$; [ -n "$SET_WATCHDOG_PID" ] && export WATCHDOG_PID; exec "$0" "$@"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, exe}, args...)...)
	cmd.Env = append(append(os.Environ(), "KIOSKD_TEST_MAIN=1"), env...)
	return startProc(t, cmd)
}

// startProc starts cmd (kioskd, dpsim) and collects its stderr lines; the
// process is killed at the end of the test.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, changed: make(chan struct{}), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	return p
}

// logLines returns the JSON log records so far.
func (p *proc) records() ([]map[string]any, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out, p.changed
}

func (p *proc) waitRecords(t *testing.T, ctx context.Context, what string, cond func([]map[string]any) bool) []map[string]any {
	t.Helper()
	for {
		recs, changed := p.records()
		if cond(recs) {
			return recs
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			t.Fatalf("timed out waiting for %s; stderr:\n%s", what, strings.Join(p.lines, "\n"))
			p.mu.Unlock()
		}
	}
}

// connectedIDs lists the session_id of every connection_state=Connected line.
func connectedIDs(recs []map[string]any) []string {
	var ids []string
	for _, r := range recs {
		if r["connection_state"] == "Connected" {
			id, _ := r["session_id"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

func nConnected(n int) func([]map[string]any) bool {
	return func(r []map[string]any) bool { return len(connectedIDs(r)) >= n }
}

// checkSteps: the connection_state lines so far are 25, 50, 75, 100 in order.
func checkSteps(t *testing.T, recs []map[string]any) {
	t.Helper()
	var pcts []float64
	for _, r := range recs {
		if _, ok := r["connection_state"]; ok {
			pcts = append(pcts, r["percentage_loaded"].(float64))
		}
	}
	if fmt.Sprint(pcts) != "[25 50 75 100]" {
		t.Fatalf("percentage_loaded in order %v, want [25 50 75 100]", pcts)
	}
}

type labFiles struct {
	dir, config, socket, leds, state string
}

func writeLab(t *testing.T, dp *dptest.Server, extra string) labFiles {
	t.Helper()
	return writeLabFor(t, dp.URL, dp.Token, "", extra)
}

// writeLabFor is writeLab for any server: url and token (the token file's
// content) and more keys of the server section (indented by two spaces).
func writeLabFor(t *testing.T, url, tokenText, serverExtra, extra string) labFiles {
	t.Helper()
	dir := t.TempDir()
	lf := labFiles{dir: dir, config: filepath.Join(dir, "kioskd.yaml"), socket: filepath.Join(dir, "status.sock"),
		leds: filepath.Join(dir, "leds"), state: filepath.Join(dir, "state")}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(tokenText+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"red", "amber", "green"} {
		if err := ledstest.MakeLEDClass(lf.leds, "kiosk:"+n, 255, "timer"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`server:
  url: %s
  token_file: %s
%ssession:
  state_dir: %s
  reconnect: {initial_delay: 50ms, max_delay: 500ms}
media:
  camera: test
  width: 160
  height: 120
  fps: 10
  microphone: test
  speaker: none
leds:
  backend: ledclass
  ledclass_root: %s
  lines: {red: "kiosk:red", amber: "kiosk:amber", green: "kiosk:green"}
status:
  socket: %s
%s`, url, token, serverExtra, lf.state, lf.leds, lf.socket, extra)
	if err := os.WriteFile(lf.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return lf
}

func brightness(t *testing.T, root string) map[string]string {
	out := map[string]string{}
	for _, n := range []string{"red", "amber", "green"} {
		v, err := ledstest.ReadAttr(root, "kiosk:"+n, "brightness")
		if err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

// notifySocket is a fake systemd notification socket.
type notifySocket struct {
	conn *net.UnixConn
	msgs chan string
}

func newNotifySocket(t *testing.T) (string, *notifySocket) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{conn: conn, msgs: make(chan string, 1024)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			for _, line := range strings.Split(string(buf[:k]), "\n") {
				if line != "" {
					n.msgs <- line
				}
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return path, n
}

// TestDaemonEndToEnd runs the real kioskd process against dpsim: the steps
// in its JSON log, the status socket, systemd notifications with the
// watchdog, LED-class LEDs, each server-side reaction, and SIGTERM.
func TestDaemonEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	lab := writeLab(t, dp, "")
	notifyPath, notify := newNotifySocket(t)
	p := startKioskd(t, []string{"NOTIFY_SOCKET=" + notifyPath, "WATCHDOG_USEC=2000000", "SET_WATCHDOG_PID=1"},
		"run", "--config", lab.config, "--log-format", "json")

	// 1. Connected, logging 25, 50, 75, 100 in order, with the session id.
	recs := p.waitRecords(t, ctx, "Connected", nConnected(1))
	checkSteps(t, recs)
	first := connectedIDs(recs)[0]
	if first == "" {
		t.Fatal("Connected line without session_id")
	}

	// 2. systemd: READY=1, a STATUS naming Connected and the id, and at
	// least 4 WATCHDOG=1 within 5 s (WATCHDOG_USEC=2 s: a ping a second).
	var ready, statusOK bool
	var pings []time.Time
	deadline := time.After(20 * time.Second)
	for !(ready && statusOK && len(pings) >= 5) {
		select {
		case m := <-notify.msgs:
			switch {
			case m == "READY=1":
				ready = true
			case strings.HasPrefix(m, "STATUS=") && strings.Contains(m, "Connected") && strings.Contains(m, first):
				statusOK = true
			case m == "WATCHDOG=1":
				pings = append(pings, time.Now())
			}
		case <-deadline:
			t.Fatalf("notify: ready=%v status=%v pings=%d", ready, statusOK, len(pings))
		}
	}
	if span := pings[4].Sub(pings[0]); span > 5*time.Second {
		t.Fatalf("5 watchdog pings took %v; want a ping every second", span)
	}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		t.Log("note: the test itself runs under a notify socket")
	}

	// 3. The status socket answers with Connected and the id.
	st, err := status.Query(ctx, lab.socket)
	if err != nil || st.State != "Connected" || st.SessionID != first {
		t.Fatalf("status = %+v, %v", st, err)
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"status", "--json", "--socket", lab.socket}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"Connected"`) || !strings.Contains(out.String(), first) {
		t.Fatalf("kioskd status --json: %d %s %s", code, out.String(), errOut.String())
	}

	// 4. LEDs: green on, red and amber off.
	if b := brightness(t, lab.leds); b["green"] != "255" || b["red"] != "0" || b["amber"] != "0" {
		t.Fatalf("LEDs at Connected: %v", b)
	}

	// 5. Reactions: same id after controlDisconnected and a drop, a new id
	// after sessionTimeout.
	dp.CloseAll("controlDisconnected")
	recs = p.waitRecords(t, ctx, "Connected after controlDisconnected", nConnected(2))
	if id := connectedIDs(recs)[1]; id != first {
		t.Fatalf("controlDisconnected: Connected with %s, want the same %s", id, first)
	}
	dp.Drop()
	recs = p.waitRecords(t, ctx, "Connected after a drop", nConnected(3))
	if id := connectedIDs(recs)[2]; id != first {
		t.Fatalf("drop: Connected with %s, want the same %s", id, first)
	}
	dp.CloseAll("sessionTimeout")
	recs = p.waitRecords(t, ctx, "Connected after sessionTimeout", nConnected(4))
	second := connectedIDs(recs)[3]
	if second == first || second == "" {
		t.Fatalf("sessionTimeout: Connected with %q, want a new id", second)
	}

	// 6. SIGTERM: STOPPING=1, exit 0 within 5 s, close normal at the
	// server, all LEDs off.
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
		if d := time.Since(sent); d > 5*time.Second {
			t.Fatalf("exit took %v, want within 5 s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10 s after SIGTERM")
	}
	stopping := false
	for m := range drain(notify.msgs) {
		stopping = stopping || m == "STOPPING=1"
	}
	if !stopping {
		t.Fatal("no STOPPING=1 after SIGTERM")
	}
	if _, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for _, s := range ss {
			if s.ID == second && s.LastCloseReason == "normal" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("dpsim did not record close normal: %+v", dp.Sessions())
	}
	if b := brightness(t, lab.leds); b["green"] != "0" || b["red"] != "0" || b["amber"] != "0" {
		t.Fatalf("LEDs after SIGTERM: %v, want all off", b)
	}

	// The token never reached a log line.
	p.mu.Lock()
	all := strings.Join(p.lines, "\n")
	p.mu.Unlock()
	if strings.Contains(all, dp.Token) {
		t.Fatal("the token appears in kioskd's log")
	}
}

func drain(ch chan string) map[string]bool {
	out := map[string]bool{}
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return out
			}
			out[m] = true
		default:
			return out
		}
	}
}

func TestCheckConfigNamesUnknownKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.yaml")
	os.WriteFile(path, []byte("server:\n  url: wss://x.example/v1/session\nmedia:\n  camra: test\n"), 0o600)
	var out, errOut bytes.Buffer
	code := Main([]string{"check-config", "--config", path}, &out, &errOut)
	if code == 0 {
		t.Fatalf("check-config accepted an unknown key: %s", out.String())
	}
	msg := errOut.String()
	if !strings.Contains(msg, "media.camra") || !strings.Contains(msg, ":4:") {
		t.Fatalf("error does not name the key and line 4: %q", msg)
	}
}

func TestCheckConfigAcceptsTheExample(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("../configs/kioskd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "k.yaml")
	os.WriteFile(path, data, 0o600)
	t.Setenv("KIOSKD_TOKEN", "example-token-0123456789")
	var out, errOut bytes.Buffer
	if code := Main([]string{"check-config", "--config", path}, &out, &errOut); code != 0 {
		t.Fatalf("example config refused (%d): %s", code, errOut.String())
	}
}

func TestStatusWithoutDaemonIsAClearError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	var out, errOut bytes.Buffer
	if code := Main([]string{"status", "--socket", sock}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), sock) {
		t.Fatalf("status without a daemon: %d %q", code, errOut.String())
	}
}

// TestDemoResumesTheSameSession runs the embedded demo, paced fast.
func TestDemoResumesTheSameSession(t *testing.T) {
	sc := dpsim.DefaultScenario()
	var out, errOut bytes.Buffer
	code := runDemo(demoOptions{For: 6 * time.Second, Camera: "test", Microphone: "test", Speaker: "none", Scenario: &sc}, &out, &errOut)
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, errOut.String())
	}
	o := out.String()
	for _, want := range []string{"25% SearchingForDigitalPerson", "50% DownloadingAssets", "75% ConnectingToDigitalPerson", "100% Connected", "resumed the SAME session", "LEDs: red ○ amber ○ green ●"} {
		if !strings.Contains(o, want) {
			t.Errorf("demo output lacks %q:\n%s", want, o)
		}
	}
}

// TestDemoThatNeverConnectsFails: a demo whose camera is missing never
// reaches Connected: exit 1 and a line on stderr that says why, not exit 0.
func TestDemoThatNeverConnectsFails(t *testing.T) {
	var out, errOut bytes.Buffer
	code := runDemo(demoOptions{For: 1500 * time.Millisecond, Camera: "/dev/v4l/by-id/no-such-camera", Microphone: "test", Speaker: "none"}, &out, &errOut)
	if code != exitFail || !strings.Contains(errOut.String(), "kioskd demo: never reached Connected in ") ||
		!strings.Contains(errOut.String(), "the last attempt failed with noUserMedia: camera \"/dev/v4l/by-id/no-such-camera\"") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if Main([]string{"version"}, &out, &errOut) != 0 || !strings.HasPrefix(out.String(), "kioskd ") {
		t.Fatalf("version: %q", out.String())
	}
	if Main([]string{"frobnicate"}, &out, &errOut) != exitUsage {
		t.Fatal("unknown command accepted")
	}
}

// waitNotify waits for want on the fake notify socket, failing after a
// generous guard.
func waitNotify(t *testing.T, n *notifySocket, want string) {
	t.Helper()
	guard := time.After(60 * time.Second)
	for {
		select {
		case m := <-n.msgs:
			if m == want {
				return
			}
		case <-guard:
			t.Fatalf("no %s on the notify socket", want)
		}
	}
}

// waitLEDs reads the LED-class files until ok holds (polling: the files
// give no notice of a change), failing after a generous guard.
func waitLEDs(t *testing.T, root, when string, ok func(map[string]string) bool) {
	t.Helper()
	guard := time.Now().Add(30 * time.Second)
	for {
		b := brightness(t, root)
		if ok(b) {
			return
		}
		if time.Now().After(guard) {
			t.Fatalf("LEDs %s: %v", when, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasMsg(msg string) func([]map[string]any) bool {
	return func(recs []map[string]any) bool {
		for _, r := range recs {
			if s, _ := r["msg"].(string); strings.Contains(s, msg) {
				return true
			}
		}
		return false
	}
}

func countMsg(recs []map[string]any, msg string) int {
	n := 0
	for _, r := range recs {
		if s, _ := r["msg"].(string); strings.Contains(s, msg) {
			n++
		}
	}
	return n
}

// TestReloadOnSIGHUP: SIGHUP reloads the configuration (systemctl reload:
// RELOADING=1, then READY=1) instead of killing the process. An unchanged
// file changes nothing, a broken one is refused with the running
// configuration kept (still Connected, LEDs green), a changed one starts
// the session again with it; SIGTERM still stops within 5 s.
func TestReloadOnSIGHUP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	lab := writeLab(t, dp, "")
	notifyPath, notify := newNotifySocket(t)
	p := startKioskd(t, []string{"NOTIFY_SOCKET=" + notifyPath}, "run", "--config", lab.config, "--log-format", "json")
	p.waitRecords(t, ctx, "Connected", nConnected(1))
	waitNotify(t, notify, "READY=1")
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	// 1. Unchanged.
	hup()
	waitNotify(t, notify, "RELOADING=1")
	waitNotify(t, notify, "READY=1")
	recs := p.waitRecords(t, ctx, "an unchanged reload", hasMsg("configuration is unchanged"))
	if n := len(connectedIDs(recs)); n != 1 {
		t.Fatalf("an unchanged reload reconnected (%d Connected)", n)
	}

	// 2. Broken: refused, the running configuration kept.
	good, err := os.ReadFile(lab.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lab.config, append(append([]byte{}, good...), "  fps: 0\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	waitNotify(t, notify, "RELOADING=1")
	waitNotify(t, notify, "READY=1")
	recs = p.waitRecords(t, ctx, "a refused reload", hasMsg("reload failed: keeping the running configuration"))
	if n := len(connectedIDs(recs)); n != 1 {
		t.Fatalf("a refused reload reconnected (%d Connected)", n)
	}
	if st, err := status.Query(ctx, lab.socket); err != nil || st.State != "Connected" {
		t.Fatalf("after a refused reload: %+v, %v", st, err)
	}
	waitLEDs(t, lab.leds, "after a refused reload", func(b map[string]string) bool { return b["green"] == "255" })

	// 3. Changed: the session starts again with the new configuration.
	changed := strings.Replace(string(good), "fps: 10", "fps: 12", 1)
	if err := os.WriteFile(lab.config, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	hup()
	waitNotify(t, notify, "RELOADING=1")
	recs = p.waitRecords(t, ctx, "Connected after a changed reload", nConnected(2))
	waitNotify(t, notify, "READY=1")
	if countMsg(recs, "kioskd started") != 2 {
		t.Fatalf("want a second generation after a changed reload")
	}
	// The LEDs follow the events on their own goroutine (and a sysfs
	// write is a truncate, then a write): read until they settle.
	waitLEDs(t, lab.leds, "after a changed reload", func(b map[string]string) bool { return b["green"] == "255" && b["red"] == "0" })

	// 4. SIGTERM still stops, in time, with exit 0.
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil || time.Since(sent) > 5*time.Second {
			t.Fatalf("exit after SIGTERM: %v after %v", err, time.Since(sent))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10 s after SIGTERM")
	}
	if b := brightness(t, lab.leds); b["green"] != "0" || b["red"] != "0" || b["amber"] != "0" {
		t.Fatalf("LEDs after SIGTERM: %v, want all off", b)
	}
}

// TestLEDsOffAfterAKill: a kioskd killed with SIGKILL leaves its LEDs as
// they were (green: "ready for visitors" on a dead kiosk); `kioskd
// leds-off`, which the unit runs as ExecStopPost, turns them off.
func TestLEDsOffAfterAKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{})
	lab := writeLab(t, dp, "")
	p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
	p.waitRecords(t, ctx, "Connected", nConnected(1))
	waitLEDs(t, lab.leds, "at Connected", func(b map[string]string) bool { return b["green"] == "255" })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if b := brightness(t, lab.leds); b["green"] != "255" {
		t.Fatalf("after SIGKILL the LEDs are %v; this test expects them left lit", b)
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"leds-off", "--config", lab.config}, &out, &errOut); code != 0 {
		t.Fatalf("leds-off: %d %s", code, errOut.String())
	}
	if b := brightness(t, lab.leds); b["green"] != "0" || b["red"] != "0" || b["amber"] != "0" {
		t.Fatalf("after leds-off: %v, want all off", b)
	}
}

// TestStatusExitCodes: `kioskd status` says the kiosk's condition in its
// exit code (0 Connected, 1 connecting, 2 failing, 3 not running), and
// --check in one line for a monitoring system.
func TestStatusExitCodes(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "status.sock")
	var mu sync.Mutex
	snap := contract.Snapshot{}
	srv, err := status.NewServer(config.Status{Socket: sock}, status.ServerOptions{Snapshot: func() contract.Snapshot {
		mu.Lock()
		defer mu.Unlock()
		return snap
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		snap  contract.Snapshot
		code  int
		check string
	}{
		{contract.Snapshot{State: contract.Connected, SessionID: "s-1"}, 0, "KIOSKD OK: Connected session s-1"},
		{contract.Snapshot{State: contract.DownloadingAssets, SessionID: "s-1"}, 1, "KIOSKD WARNING: DownloadingAssets session s-1"},
		{contract.Snapshot{State: contract.SearchingForDigitalPerson, LastError: contract.NoScene}, 1, "KIOSKD WARNING: SearchingForDigitalPerson (last error noScene, LED code 2)"},
		{contract.Snapshot{State: contract.Disconnected, LastError: contract.ServerConnectionFailed}, 2, "KIOSKD CRITICAL: Disconnected (last error serverConnectionFailed, LED code 3)"},
	} {
		mu.Lock()
		snap = tc.snap
		mu.Unlock()
		var out, errOut bytes.Buffer
		if code := Main([]string{"status", "--socket", sock}, &out, &errOut); code != tc.code {
			t.Errorf("%s: exit %d, want %d (%s)", tc.snap.State, code, tc.code, errOut.String())
		}
		out.Reset()
		if code := Main([]string{"status", "--check", "--socket", sock}, &out, &errOut); code != tc.code || strings.TrimSpace(out.String()) != tc.check {
			t.Errorf("%s --check: exit %d %q, want %d %q", tc.snap.State, code, out.String(), tc.code, tc.check)
		}
	}
	srv.Close()
	var out, errOut bytes.Buffer
	if code := Main([]string{"status", "--socket", sock}, &out, &errOut); code != 3 {
		t.Errorf("no daemon: exit %d, want 3", code)
	}
	out.Reset()
	if code := Main([]string{"status", "--check", "--socket", sock}, &out, &errOut); code != 2 || !strings.HasPrefix(out.String(), "KIOSKD CRITICAL: not running") {
		t.Errorf("no daemon --check: exit %d %q, want 2 CRITICAL", code, out.String())
	}
}
