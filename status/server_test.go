package status

import (
	"github.com/kioskd/kioskd/contract"

	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

// fakeSession is a snapshot the test changes.
type fakeSession struct {
	mu   sync.Mutex
	snap contract.Snapshot
}

func (f *fakeSession) Snapshot() contract.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeSession) set(fn func(*contract.Snapshot)) {
	f.mu.Lock()
	fn(&f.snap)
	f.mu.Unlock()
}

func socketPath(t *testing.T) string {
	// A parent that does not exist yet: the server creates it.
	return filepath.Join(t.TempDir(), "run", "kioskd", "status.sock")
}

func startServer(t *testing.T, path string, opts ServerOptions) *Server {
	t.Helper()
	s, err := NewServer(config.Status{Socket: path}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var since = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func TestServerQuery(t *testing.T) {
	fs := &fakeSession{snap: contract.Snapshot{State: contract.ConnectingToDigitalPerson, SessionID: "3f2a9c1e-7b7d",
		LastError: contract.NoScene, LastReason: contract.ReasonControlDisconnected, Attempt: 2, Since: since, Connects: 5}}
	path := socketPath(t)
	s := startServer(t, path, ServerOptions{Snapshot: fs.Snapshot, PollInterval: -1})
	if s.Path() != path {
		t.Fatalf("Path = %q", s.Path())
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode = %v, want socket 0660", fi.Mode())
	}

	st, err := Query(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := Status{State: "ConnectingToDigitalPerson", CurrentStep: 3, TotalSteps: 5, PercentageLoaded: 75,
		SessionID: "3f2a9c1e-7b7d", LastError: "noScene", LastReason: "controlDisconnected", Attempt: 2, Since: &since, Connects: 5, LastErrorCode: 2}
	if !equalStatus(st, want) {
		t.Fatalf("Query = %+v\nwant    %+v", st, want)
	}

	// The wire format: exactly these keys, one line.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("status\n"))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"attempt", "connects", "current_step", "last_error", "last_error_code", "last_error_detail", "last_reason", "next_retry",
		"percentage_loaded", "queue_position", "session_id", "since", "state", "total_steps"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("keys = %v\nwant   %v", keys, wantKeys)
	}
	if m["next_retry"] != nil || m["since"] != "2026-05-01T10:00:00Z" {
		t.Fatalf("times: since=%v next_retry=%v", m["since"], m["next_retry"])
	}

	// An unknown command gets an error, which the client reports.
	c2, _ := net.Dial("unix", path)
	defer c2.Close()
	c2.Write([]byte("reboot\n"))
	line, _ = bufio.NewReader(c2).ReadString('\n')
	if !strings.Contains(line, `"error"`) || !strings.Contains(line, "reboot") {
		t.Fatalf("unknown command answer: %q", line)
	}
	if _, err := decode([]byte(line)); err == nil {
		t.Fatal("decode of an error answer succeeded")
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Close: %v", err)
	}
}

func equalStatus(a, b Status) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestServerSocketFile(t *testing.T) {
	fs := &fakeSession{}

	// A stale socket (nobody listening) is replaced.
	path := socketPath(t)
	os.MkdirAll(filepath.Dir(path), 0o755)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Query(context.Background(), path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Query on a stale socket = %v, want ErrNotRunning", err)
	}
	s := startServer(t, path, ServerOptions{Snapshot: fs.Snapshot})
	if _, err := Query(context.Background(), path); err != nil {
		t.Fatalf("Query after replacing a stale socket: %v", err)
	}

	// A live server is not stolen from.
	if _, err := NewServer(config.Status{Socket: path}, ServerOptions{Snapshot: fs.Snapshot}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second server = %v, want ErrInUse", err)
	}
	if _, err := Query(context.Background(), path); err != nil {
		t.Fatalf("first server broken by the second: %v", err)
	}
	s.Close()

	// Something that is not a socket is never removed.
	file := filepath.Join(t.TempDir(), "status.sock")
	os.WriteFile(file, []byte("keep"), 0o600)
	if _, err := NewServer(config.Status{Socket: file}, ServerOptions{Snapshot: fs.Snapshot}); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("regular file: %v, want ErrNotSocket", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Fatal("regular file was touched")
	}

	if _, err := NewServer(config.Status{Socket: path}, ServerOptions{}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("no snapshot: %v", err)
	}
	// No path is refused, not replaced by one the server makes up.
	if _, err := NewServer(config.Status{}, ServerOptions{Snapshot: fs.Snapshot}); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("no socket: %v", err)
	}
}

func TestClientErrorWhenNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kioskd", "status.sock")
	_, err := Query(context.Background(), path)
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Query without daemon = %v; want ErrNotRunning naming %s", err, path)
	}
	err = Watch(context.Background(), path, func(Status) { t.Error("callback without daemon") })
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Watch without daemon = %v", err)
	}
}

// watchInto runs Watch in the background, delivering statuses on a channel.
func watchInto(t *testing.T, ctx context.Context, path string) (<-chan Status, <-chan error) {
	t.Helper()
	ch := make(chan Status, 16)
	errc := make(chan error, 1)
	go func() { errc <- Watch(ctx, path, func(st Status) { ch <- st }) }()
	return ch, errc
}

// next waits for the next status; the timeout only turns a hang into a failure.
func next(t *testing.T, ch <-chan Status) Status {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no status from watch")
		return Status{}
	}
}

func TestWatchFromEvents(t *testing.T) {
	fs := &fakeSession{snap: contract.Snapshot{State: contract.Disconnected}}
	events := make(chan contract.Event)
	path := socketPath(t)
	s := startServer(t, path, ServerOptions{Snapshot: fs.Snapshot, Events: events})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, errc := watchInto(t, ctx, path)
	if st := next(t, ch); st.State != "Disconnected" {
		t.Fatalf("first status = %+v", st)
	}
	// The server's first re-read equals what the watcher already has: not
	// sent again. (The second send returns only after the first was handled.)
	events <- contract.Event{Kind: contract.EventRetry, Delay: time.Second}
	events <- contract.Event{Kind: contract.EventRetry, Delay: time.Second}

	steps := []contract.ConnectionState{contract.SearchingForDigitalPerson, contract.DownloadingAssets,
		contract.ConnectingToDigitalPerson, contract.Connected}
	for _, want := range steps {
		fs.set(func(s *contract.Snapshot) { s.State = want; s.SessionID = "sid" })
		events <- contract.Event{Kind: contract.EventState, State: want}
		// Events that leave the snapshot as it was send nothing.
		events <- contract.Event{Kind: contract.EventQueue, State: want}
		events <- contract.Event{Kind: contract.EventQueue, State: want}
		st := next(t, ch)
		if st.State != want.String() || st.CurrentStep != want.Step() || st.PercentageLoaded != want.Percentage() || st.SessionID != "sid" {
			t.Fatalf("watch got %+v, want %v", st, want)
		}
	}
	fs.set(func(s *contract.Snapshot) { s.QueuePosition = 0; s.Connects = 1 })
	events <- contract.Event{Kind: contract.EventQueue, State: contract.Connected}
	if st := next(t, ch); st.Connects != 1 || st.State != "Connected" {
		t.Fatalf("watch got %+v", st)
	}
	select {
	case st := <-ch:
		t.Fatalf("duplicate status %+v", st)
	default:
	}

	// The daemon stopping ends the watch with ErrDaemonClosed.
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrDaemonClosed) {
			t.Fatalf("Watch after server Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after Close")
	}
}

func TestWatchPollingAndCancel(t *testing.T) {
	fc := clocktest.New(since)
	fs := &fakeSession{snap: contract.Snapshot{State: contract.Disconnected, LastError: contract.NoScene, Attempt: 1, NextRetry: since.Add(4 * time.Second)}}
	path := socketPath(t)
	startServer(t, path, ServerOptions{Snapshot: fs.Snapshot, Clock: fc}) // no Events: polls every 1 s
	fc.BlockUntil(1)

	ctx, cancel := context.WithCancel(context.Background())
	ch, errc := watchInto(t, ctx, path)
	if st := next(t, ch); st.NextRetry == nil || st.LastError != "noScene" {
		t.Fatalf("first status = %+v", st)
	}
	// A second watcher sees the same changes.
	ch2, errc2 := watchInto(t, ctx, path)
	next(t, ch2)

	fs.set(func(s *contract.Snapshot) {
		s.State, s.NextRetry, s.QueuePosition = contract.SearchingForDigitalPerson, time.Time{}, 4
	})
	fc.Advance(time.Second)
	for _, c := range []<-chan Status{ch, ch2} {
		if st := next(t, c); st.State != "SearchingForDigitalPerson" || st.QueuePosition != 4 || st.NextRetry != nil {
			t.Fatalf("after poll: %+v", st)
		}
	}

	cancel()
	for _, e := range []<-chan error{errc, errc2} {
		if err := <-e; !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch after cancel = %v", err)
		}
	}
}

func TestQueryHonoursContext(t *testing.T) {
	// A socket that accepts but never answers: Query must give up with ctx.
	path := filepath.Join(t.TempDir(), "mute.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := Query(ctx, path); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Query after cancel = %v", err)
	}
}

// The socket serves at most MaxClients at once: one more is told so and
// hung up on (not left holding a descriptor and goroutines), and is served
// again once a client leaves.
func TestServerCapsClients(t *testing.T) {
	path := socketPath(t)
	fs := &fakeSession{snap: contract.Snapshot{State: contract.Connected, Since: since}}
	startServer(t, path, ServerOptions{Snapshot: fs.Snapshot, PollInterval: -1})
	line := func(c net.Conn) string {
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a failure guard, not a wait
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return l
	}
	dial := func(cmd string) net.Conn {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// A refused client may be hung up on before its command lands, so
		// the write can fail with EPIPE; the refusal is still there to read,
		// and what the client reads is what this test judges.
		c.Write([]byte(cmd + "\n"))
		return c
	}
	var watchers []net.Conn
	for range MaxClients {
		c := dial("watch")
		if l := line(c); !strings.Contains(l, `"state":"Connected"`) {
			t.Fatalf("watcher %d got %q", len(watchers), l)
		}
		watchers = append(watchers, c)
	}
	extra := dial("status")
	if l := line(extra); !strings.Contains(l, "too many status clients") {
		t.Fatalf("client %d got %q, want a refusal", MaxClients+1, l)
	}
	if _, err := bufio.NewReader(extra).ReadString('\n'); err == nil {
		t.Fatal("the refused client was not hung up on")
	}
	watchers[0].Close()
	// The server notices the hang-up on its own time: ask until served.
	for i := 0; ; i++ {
		l := line(dial("status"))
		if strings.Contains(l, `"state":"Connected"`) {
			break
		}
		if i == 1000 || !strings.Contains(l, "too many") {
			t.Fatalf("after a client left, got %q", l)
		}
	}
}
