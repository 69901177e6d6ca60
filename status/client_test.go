package status

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
)

// TestFollowSurvivesADaemonRestart: Follow (`kioskd status --watch`)
// shows the first daemon's status; the daemon stops (lost hears
// ErrDaemonClosed), is away a while (the dials fail with ErrNotRunning,
// retried with a growing delay), then a new one serves the same socket:
// Follow shows its status without being asked again, and ends with ctx.
func TestFollowSurvivesADaemonRestart(t *testing.T) {
	path := socketPath(t)
	first := &fakeSession{snap: contract.Snapshot{State: contract.Connected, SessionID: "session-before-the-restart"}}
	s1 := startServer(t, path, ServerOptions{Snapshot: first.Snapshot, PollInterval: -1})

	type gap struct {
		err   error
		retry time.Duration
	}
	statuses, gaps := make(chan Status, 16), make(chan gap, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, path, func(st Status) { statuses <- st }, func(err error, retry time.Duration) { gaps <- gap{err, retry} })
	}()
	if st := next(t, statuses); st.SessionID != "session-before-the-restart" {
		t.Fatalf("first status %+v", st)
	}

	s1.Close()
	waitGap := func() gap {
		t.Helper()
		select {
		case g := <-gaps:
			return g
		case <-time.After(10 * time.Second):
			t.Fatal("Follow reported no gap")
			return gap{}
		}
	}
	if g := waitGap(); !errors.Is(g.err, ErrDaemonClosed) || g.retry != followInitial {
		t.Fatalf("after the daemon stopped: %v, retry in %v", g.err, g.retry)
	}
	// Away: two failed dials, each reported, the delay growing.
	g1, g2 := waitGap(), waitGap()
	if !errors.Is(g1.err, ErrNotRunning) || !errors.Is(g2.err, ErrNotRunning) || g2.retry <= g1.retry {
		t.Fatalf("while away: %v (%v), %v (%v)", g1.err, g1.retry, g2.err, g2.retry)
	}

	second := &fakeSession{snap: contract.Snapshot{State: contract.SearchingForDigitalPerson, SessionID: "session-after-the-restart"}}
	startServer(t, path, ServerOptions{Snapshot: second.Snapshot, PollInterval: -1})
	if st := next(t, statuses); st.SessionID != "session-after-the-restart" || st.State != "SearchingForDigitalPerson" {
		t.Fatalf("after the restart: %+v", st)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow after cancel = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not end with its context")
	}
}

// TestFollowStopsOnABadAnswer: something that is not kioskd answering on
// the socket ends Follow with ErrBadAnswer instead of retrying forever.
func TestFollowStopsOnABadAnswer(t *testing.T) {
	path := socketPath(t)
	ln := listenUnix(t, path)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Follow(ctx, path, func(Status) {}, nil)
	if !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("Follow against a non-kioskd socket = %v, want ErrBadAnswer", err)
	}
}

func listenUnix(t *testing.T, path string) net.Listener {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}
