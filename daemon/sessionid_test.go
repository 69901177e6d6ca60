package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/logging"
)

// jsonLines is the daemon's JSON log as it is written, line by line, with
// a signal at each write so a test waits for a line instead of sleeping.
type jsonLines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	lines   []map[string]any
	changed chan struct{}
}

func newJSONLines() *jsonLines { return &jsonLines{changed: make(chan struct{})} }

func (l *jsonLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadBytes('\n')
		if err != nil {
			l.buf.Write(line) // an incomplete line waits for the rest
			break
		}
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			rec = map[string]any{"msg": "NOT JSON: " + string(line)}
		}
		l.lines = append(l.lines, rec)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// waitFor waits until cond holds for the lines so far and returns them.
func (l *jsonLines) waitFor(t *testing.T, ctx context.Context, what string, cond func([]map[string]any) bool) []map[string]any {
	t.Helper()
	for {
		l.mu.Lock()
		lines, changed := append([]map[string]any(nil), l.lines...), l.changed
		l.mu.Unlock()
		if cond(lines) {
			return lines
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; log:\n%s", what, describeLines(lines))
		}
	}
}

func describeLines(lines []map[string]any) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "  session_id=%-40v %v\n", l["session_id"], l["msg"])
	}
	return b.String()
}

func sid(l map[string]any) string { s, _ := l["session_id"].(string); return s }

func msgIs(l map[string]any, msg string) bool { m, _ := l["msg"].(string); return m == msg }

// index returns the index of the first line at or after from with msg, -1 if none.
func index(lines []map[string]any, from int, msg string) int {
	for i := from; i < len(lines); i++ {
		if msgIs(lines[i], msg) {
			return i
		}
	}
	return -1
}

// lineLogger is the daemon's logger as `kioskd run --log-format json`
// builds it, the tracker wired as the CLI wires it.
func lineLogger(t *testing.T, lines *jsonLines) daemon.Options {
	t.Helper()
	log, tracker, err := logging.New(logging.FormatJSON, lines, logging.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return daemon.Options{Log: log, OnSessionID: tracker.Set}
}

const searching = "connection state SearchingForDigitalPerson"

// TestSessionIDAfterAFailedAttempt (issue 16, item 3): dpsim names a
// session, then fails it with controlFailed; the next attempt's lines,
// from its SearchingForDigitalPerson line on, never carry the failed
// attempt's id, and its Connected line carries its own.
func TestSessionIDAfterAFailedAttempt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	newFakeSystemd(t)
	sc := dpsim.DefaultScenario()
	sc.ControlFailed = 1
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	lines := newJSONLines()
	d, err := daemon.New(labConfig(t, dp), lineLogger(t, lines))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	ls := lines.waitFor(t, ctx, "Connected after controlFailed", func(ls []map[string]any) bool {
		f := index(ls, 0, "connect failed: controlFailed")
		return f >= 0 && index(ls, f, "connection state Connected") > 0
	})
	failed := index(ls, 0, "connect failed: controlFailed")
	x := sid(ls[failed])
	if x == "" {
		t.Fatalf("the failed attempt's lines carry no session id:\n%s", describeLines(ls))
	}
	second := index(ls, failed, searching)
	if second < 0 || sid(ls[second]) != "" {
		t.Errorf("the next attempt's %q line carries session_id %q, want none (the server names the session later):\n%s", searching, sid(ls[second]), describeLines(ls))
	}
	retry := index(ls, failed, "retrying")
	for _, l := range ls[retry+1:] {
		if sid(l) == x {
			t.Errorf("line %q of the next attempt carries the failed attempt's session id %s:\n%s", l["msg"], x, describeLines(ls))
			break
		}
	}
	if y := sid(ls[index(ls, failed, "connection state Connected")]); y == "" || y == x {
		t.Errorf("the Connected line carries session_id %q, want the new session's (not %q)", y, x)
	}
}

// TestSessionIDAfterForgettingTheStoredSession (issue 16, item 3): a
// Connected session's control socket is cut; the kiosk asks to resume it,
// dpsim (no resume window) refuses with noSessionToResume, the kiosk
// forgets it and starts a fresh session at once. From the forgetting on,
// no line carries the forgotten id; the fresh attempt's
// SearchingForDigitalPerson line carries none.
func TestSessionIDAfterForgettingTheStoredSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	newFakeSystemd(t)
	sc := dpsim.DefaultScenario()
	sc.ResumeWindow = -1
	dp := dptest.NewServer(t, dpsim.Config{Scenario: sc})
	lines := newJSONLines()
	d, err := daemon.New(labConfig(t, dp), lineLogger(t, lines))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	ls := lines.waitFor(t, ctx, "Connected", func(ls []map[string]any) bool { return index(ls, 0, "connection state Connected") >= 0 })
	y := sid(ls[index(ls, 0, "connection state Connected")])
	if y == "" {
		t.Fatalf("the Connected line carries no session id:\n%s", describeLines(ls))
	}
	if dp.Drop() != 1 {
		t.Fatal("dpsim had no control socket to cut")
	}
	const forgetting = "forgetting the stored session"
	ls = lines.waitFor(t, ctx, "Connected again after the refused resume", func(ls []map[string]any) bool {
		f := index(ls, 0, forgetting)
		return f >= 0 && index(ls, f, "connection state Connected") > 0
	})
	forgot := index(ls, 0, forgetting)
	if refused := index(ls, 0, "connect failed: noSessionToResume"); refused < 0 || refused > forgot || sid(ls[refused]) != y {
		t.Errorf("the refused resume's line should come before the forgetting and carry %s:\n%s", y, describeLines(ls))
	}
	fresh := index(ls, forgot, searching)
	if fresh < 0 || sid(ls[fresh]) != "" {
		t.Errorf("the fresh attempt's %q line carries session_id %q, want none:\n%s", searching, sid(ls[fresh]), describeLines(ls))
	}
	for _, l := range ls[forgot+1:] {
		if sid(l) == y {
			t.Errorf("line %q after the forgetting carries the forgotten session id %s:\n%s", l["msg"], y, describeLines(ls))
			break
		}
	}
	if z := sid(ls[index(ls, forgot, "connection state Connected")]); z == "" || z == y {
		t.Errorf("the fresh Connected line carries session_id %q, want a new one (not %q)", z, y)
	}
}
