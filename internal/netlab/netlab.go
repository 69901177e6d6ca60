// Package netlab builds network labs for tests: Linux network namespaces
// joined by veth pairs, with nftables rules (drop a protocol, random loss)
// and tbf rate limits on their links, and processes run inside them. It
// shells out to ip(8), nft(8) and tc(8), so it needs root and those
// tools; Skip says when they are missing and the test skips with why.
//
// Every namespace a Lab makes is deleted by Close (t.Cleanup calls it),
// taking its veths, rules and qdiscs with it, whatever the test's outcome;
// those of a test process killed before its cleanups are deleted by the
// next New.
// Processes are started with Command (ip netns exec, so a real kioskd,
// dpsim or turnserver runs there as it would on a machine of its own);
// the test process itself reaches into a namespace with DialContext,
// which opens the socket on an OS thread moved into the namespace.
//
// The host has tbf, htb and nftables but no sch_netem: delay is not
// available here, so loss is nftables' numgen random and rate is tbf.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Skip returns why no lab can be built here, or "".
func Skip() string {
	if os.Geteuid() != 0 {
		return "netlab needs root (network namespaces, veth, nftables)"
	}
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("netlab needs %s (apt-get install iproute2 nftables)", tool)
		}
	}
	name := fmt.Sprintf("nlprobe%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Sprintf("ip netns add fails here (a container without CAP_SYS_ADMIN?): %v: %s", err, bytes.TrimSpace(out))
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
	return ""
}

// Lab is a set of namespaces that live as long as a test.
type Lab struct {
	tb     testing.TB
	prefix string
	mu     sync.Mutex
	nss    []*NS
	links  int
}

var labs atomic.Int32

// New makes an empty lab, or skips tb with Skip's reason. Close runs at
// the test's end.
func New(tb testing.TB) *Lab {
	tb.Helper()
	if why := Skip(); why != "" {
		tb.Skip(why)
	}
	reapStale()
	l := &Lab{tb: tb, prefix: fmt.Sprintf("nl%d-%d-", os.Getpid(), labs.Add(1))}
	tb.Cleanup(l.Close)
	return l
}

// reapStale deletes the namespaces of labs whose test process is gone
// without its cleanups (killed, or a timeout's panic): their names start
// with "nl<pid>-".
func reapStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		pid, rest, ok := strings.Cut(strings.TrimPrefix(e.Name(), "nl"), "-")
		if !strings.HasPrefix(e.Name(), "nl") || !ok || rest == "" || strings.Trim(pid, "0123456789") != "" {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, fs.ErrNotExist) {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

// NS is one network namespace of a lab.
type NS struct {
	lab  *Lab
	Name string // the name ip netns knows it by
}

// Namespace makes a namespace with its loopback up.
func (l *Lab) Namespace(name string) *NS {
	l.tb.Helper()
	ns := &NS{lab: l, Name: l.prefix + name}
	l.must("ip", "netns", "add", ns.Name)
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	ns.MustRun("ip", "link", "set", "lo", "up")
	return ns
}

// Link joins a and b with a veth pair, addresses in CIDR form
// ("10.77.0.1/24"), both ends up. It returns the interface names.
func (l *Lab) Link(a *NS, addrA string, b *NS, addrB string) (ifA, ifB string) {
	l.tb.Helper()
	l.mu.Lock()
	l.links++
	n := l.links
	l.mu.Unlock()
	ifA, ifB = fmt.Sprintf("v%da", n), fmt.Sprintf("v%db", n)
	l.must("ip", "link", "add", ifA, "netns", a.Name, "type", "veth", "peer", "name", ifB, "netns", b.Name)
	a.MustRun("ip", "addr", "add", addrA, "dev", ifA)
	b.MustRun("ip", "addr", "add", addrB, "dev", ifB)
	a.MustRun("ip", "link", "set", ifA, "up")
	b.MustRun("ip", "link", "set", ifB, "up")
	return ifA, ifB
}

// Close deletes every namespace of the lab (and with them their links,
// rules and the sockets left in them). Safe to call more than once.
func (l *Lab) Close() {
	l.mu.Lock()
	nss := l.nss
	l.nss = nil
	l.mu.Unlock()
	for _, ns := range nss {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			l.tb.Errorf("netlab: deleting namespace %s: %v: %s", ns.Name, err, bytes.TrimSpace(out))
		}
	}
}

func (l *Lab) must(name string, args ...string) {
	l.tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		l.tb.Fatalf("netlab: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Command is name with args run inside the namespace (ip netns exec).
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// MustRun runs a command in the namespace and fails the test if it fails.
func (ns *NS) MustRun(name string, args ...string) {
	ns.lab.tb.Helper()
	if out, err := ns.Command(name, args...).CombinedOutput(); err != nil {
		ns.lab.tb.Fatalf("netlab: in %s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// Nft loads an nftables ruleset (nft -f syntax) into the namespace.
func (ns *NS) Nft(ruleset string) {
	ns.lab.tb.Helper()
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		ns.lab.tb.Fatalf("netlab: nft in %s: %v: %s\n%s", ns.Name, err, bytes.TrimSpace(out), ruleset)
	}
}

// BlockUDP drops every UDP datagram in and out of dev (a firewall that
// lets only TCP through). DNS is not needed in a lab.
func (ns *NS) BlockUDP(dev string) {
	ns.Nft(fmt.Sprintf(`table inet netlab_udp {
	chain in { type filter hook input priority 0; iifname %q meta l4proto udp drop; }
	chain out { type filter hook output priority 0; oifname %q meta l4proto udp drop; }
}
`, dev, dev))
}

// BlockUDPExcept drops every UDP datagram in and out of dev but those to
// and from host:port (a firewall that lets UDP through to one TURN server
// only).
func (ns *NS) BlockUDPExcept(dev, host string, port int) {
	ns.Nft(fmt.Sprintf(`table inet netlab_udp {
	chain in {
		type filter hook input priority 0;
		iifname %[1]q meta l4proto udp ip saddr != %[2]s drop;
		iifname %[1]q udp sport != %[3]d drop;
	}
	chain out {
		type filter hook output priority 0;
		oifname %[1]q meta l4proto udp ip daddr != %[2]s drop;
		oifname %[1]q udp dport != %[3]d drop;
	}
}
`, dev, host, port))
}

// Loss drops percent (1-100) of the packets leaving dev, at random
// (nftables numgen random; the host has no netem).
func (ns *NS) Loss(dev string, percent int) {
	ns.lab.tb.Helper()
	if percent < 1 || percent > 100 {
		ns.lab.tb.Fatalf("netlab: loss %d %%: want 1 to 100", percent)
	}
	// numgen's values are 0..99, and nft refuses "< 100" as out of range.
	ns.Nft(fmt.Sprintf(`table inet netlab_loss_%s {
	chain out { type filter hook output priority 0; oifname %q numgen random mod 100 <= %d drop; }
}
`, dev, dev, percent-1))
}

// Rate limits what leaves dev to kbit kbit/s with tbf (a queue of
// about 100 ms at that rate, at least 2 packets).
func (ns *NS) Rate(dev string, kbit int) {
	burst := max(kbit*1000/8/50, 3000) // 20 ms of tokens, at least 2 MTUs
	limit := max(kbit*1000/8/10, 3000) // about 100 ms of queue
	ns.MustRun("tc", "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", kbit), "burst", fmt.Sprint(burst), "limit", fmt.Sprint(limit))
}

// Do runs fn on an OS thread moved into the namespace, for the test
// process itself: sockets fn opens (a dial to an admin API on the
// namespace's loopback, a listener) belong to the namespace and keep
// working from any goroutine afterwards. The thread is thrown away after
// fn, so no other goroutine ever runs in the namespace.
func (ns *NS) Do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		// Locked and never unlocked: the runtime ends this thread with
		// the goroutine instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			ch <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// DialContext opens a connection from inside the namespace (see Do).
func (ns *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// ErrTimeout is WaitTCP's error when nothing listens in time.
var ErrTimeout = errors.New("netlab: nothing listens")

// WaitTCP waits until something accepts TCP connections at addr, seen
// from inside the namespace, or ctx ends.
func (ns *NS) WaitTCP(ctx context.Context, addr string) error {
	for {
		c, err := ns.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w at %s in %s: %v", ErrTimeout, addr, ns.Name, err)
		}
		// Refused: another process (turnserver) is not listening yet and
		// says nothing when it is; poll, 50 times a second.
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
