//go:build linux

package systemd

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kioskd/kioskd/internal/clock/clocktest"
)

// fakeSystemd is a NOTIFY_SOCKET: a unixgram socket in t.TempDir().
type fakeSystemd struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &fakeSystemd{t: t, path: path, conn: conn}
}

// recv returns the next datagram. The deadline only turns a hang into a
// failure; the datagram is already queued when Notify returns.
func (f *fakeSystemd) recv() string {
	f.t.Helper()
	buf := make([]byte, 4096)
	f.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := f.conn.Read(buf)
	if err != nil {
		f.t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// pending returns a queued datagram without waiting. A unix datagram is on
// the receiver's queue by the time the sender's write returns, so "nothing
// queued" is a definite answer, not a race.
func (f *fakeSystemd) pending() (string, bool) {
	f.t.Helper()
	rc, err := f.conn.SyscallConn()
	if err != nil {
		f.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
		return true
	}); err != nil {
		f.t.Fatal(err)
	}
	if errors.Is(rerr, unix.EAGAIN) {
		return "", false
	}
	if rerr != nil {
		f.t.Fatal(rerr)
	}
	return string(buf[:n]), true
}

func (f *fakeSystemd) expect(want string) {
	f.t.Helper()
	if got := f.recv(); got != want {
		f.t.Fatalf("notification = %q, want %q", got, want)
	}
	if got, ok := f.pending(); ok {
		f.t.Fatalf("unexpected extra notification %q after %q", got, want)
	}
	if os.Getenv("NOTIFY_SOCKET") != f.path {
		f.t.Fatalf("NOTIFY_SOCKET = %q after notify; it must stay %q so later pings work", os.Getenv("NOTIFY_SOCKET"), f.path)
	}
}

func TestNotifyMessages(t *testing.T) {
	sd := newFakeSystemd(t)

	Ready()
	sd.expect("READY=1")
	Status("Connected (4/5, 100%) session 3f2a")
	sd.expect("STATUS=Connected (4/5, 100%) session 3f2a")
	// A line break must not smuggle another assignment in.
	Status("Connected\nREADY=1\r\nX")
	sd.expect("STATUS=Connected READY=1 X")
	WatchdogPing()
	sd.expect("WATCHDOG=1")
	WatchdogPing()
	sd.expect("WATCHDOG=1")
	Stopping()
	sd.expect("STOPPING=1")

	sent, err := Notify("WATCHDOG=1")
	if !sent || err != nil {
		t.Fatalf("Notify = %v, %v; want sent", sent, err)
	}
	sd.expect("WATCHDOG=1")
}

func TestNotifyWithoutSystemdIsNoop(t *testing.T) {
	sd := newFakeSystemd(t)
	os.Unsetenv("NOTIFY_SOCKET") // t.Setenv restores it afterwards

	Ready()
	Status("x")
	WatchdogPing()
	Stopping()
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Fatalf("Notify without NOTIFY_SOCKET = %v, %v; want false, nil", sent, err)
	}
	if _, ok := os.LookupEnv("NOTIFY_SOCKET"); ok {
		t.Fatal("NOTIFY_SOCKET appeared")
	}

	// Datagrams are delivered in order: if any call above had reached the
	// socket, the marker would not be first.
	os.Setenv("NOTIFY_SOCKET", sd.path)
	Status("marker")
	sd.expect("STATUS=marker")
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		setPID    bool
		want      time.Duration
		ok        bool
	}{
		{usec: "10000000", want: 10 * time.Second, ok: true},
		{usec: "10000000", pid: pid, setPID: true, want: 10 * time.Second, ok: true},
		{usec: "10000000", pid: "1", setPID: true}, // another process's watchdog
		{usec: "bogus"},
		{usec: "0"},
		{usec: ""},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		if tc.setPID {
			t.Setenv("WATCHDOG_PID", tc.pid)
		} else {
			t.Setenv("WATCHDOG_PID", "")
			os.Unsetenv("WATCHDOG_PID")
		}
		got, ok := WatchdogInterval()
		if got != tc.want || ok != tc.ok {
			t.Errorf("USEC=%q PID=%q: WatchdogInterval() = %v, %v; want %v, %v", tc.usec, tc.pid, got, ok, tc.want, tc.ok)
		}
		if os.Getenv("WATCHDOG_USEC") != tc.usec {
			t.Errorf("WATCHDOG_USEC was changed")
		}
	}
}

// TestWatchdogPingsOverNotifySocket drives the real notifier with a fake
// clock: one WATCHDOG=1 per Interval/2 while the supervisor makes progress,
// none once its last progress is older than the interval, and pings again
// when it recovers.
func TestWatchdogPingsOverNotifySocket(t *testing.T) {
	sd := newFakeSystemd(t)
	fc := clocktest.New(time.Unix(1_700_000_000, 0))
	var mu sync.Mutex
	last := fc.Now()
	lastProgress := func() time.Time { mu.Lock(); defer mu.Unlock(); return last }
	mark := func() { mu.Lock(); last = fc.Now(); mu.Unlock() }
	wd, err := NewWatchdog(WatchdogConfig{Interval: 10 * time.Second, LastProgress: lastProgress, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	if wd.Period() != 5*time.Second {
		t.Fatalf("period = %v, want 5s", wd.Period())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- wd.Run(ctx) }()

	fc.BlockUntil(1) // first check done, timer armed
	sd.expect("WATCHDOG=1")

	// step advances the fake clock by d and waits until the watchdog has
	// handled the tick it caused (it re-arms its timer after each check).
	step := func(d time.Duration) {
		t.Helper()
		fc.Advance(d)
		fc.BlockUntil(1)
	}
	noPing := func(when string) {
		t.Helper()
		if got, ok := sd.pending(); ok {
			t.Fatalf("%s: unexpected %q", when, got)
		}
	}

	// Live supervisor: exactly one ping per period, none in between.
	for i := 0; i < 4; i++ {
		mark()
		fc.Advance(4 * time.Second) // before the period ends: no tick
		noPing("mid-period")
		step(1 * time.Second)
		sd.expect("WATCHDOG=1")
	}

	// Supervisor wedges now. 5 s and 10 s old: still within the interval.
	mark()
	step(5 * time.Second)
	sd.expect("WATCHDOG=1")
	step(5 * time.Second)
	sd.expect("WATCHDOG=1")
	// 15 s, 20 s, 25 s old: older than the interval, no more pings.
	for i := 0; i < 3; i++ {
		step(5 * time.Second)
		noPing("stalled supervisor")
	}

	// Progress again: pings resume.
	mark()
	step(5 * time.Second)
	sd.expect("WATCHDOG=1")

	cancel()
	if err := <-runErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v", err)
	}
	if os.Getenv("NOTIFY_SOCKET") != sd.path {
		t.Fatal("NOTIFY_SOCKET was unset by the watchdog")
	}
}

func TestReportStatusSendsChangesOnly(t *testing.T) {
	sd := newFakeSystemd(t)
	var mu sync.Mutex
	snap := contract.Snapshot{State: contract.SearchingForDigitalPerson}
	snapshot := func() contract.Snapshot { mu.Lock(); defer mu.Unlock(); return snap }
	events := make(chan contract.Event) // unbuffered: a send returns once the previous event was handled
	done := make(chan struct{})
	go func() { ReportStatus(context.Background(), events, snapshot); close(done) }()

	events <- contract.Event{Kind: contract.EventState}
	sd.expect("STATUS=SearchingForDigitalPerson (1/5, 25%)")
	for i := 0; i < 3; i++ {
		events <- contract.Event{Kind: contract.EventQueue} // the snapshot did not change: same line
	}
	if got, ok := sd.pending(); ok {
		t.Fatalf("unchanged status sent again: %q", got)
	}
	mu.Lock()
	snap = contract.Snapshot{State: contract.Connected, SessionID: "3f2a"}
	mu.Unlock()
	events <- contract.Event{Kind: contract.EventState}
	close(events)
	<-done
	sd.expect("STATUS=Connected (4/5, 100%) session 3f2a")
}
