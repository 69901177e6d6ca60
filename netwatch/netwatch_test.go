package netwatch_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/netlab"
	"github.com/kioskd/kioskd/netwatch"
)

// The watcher against the real kernel: it runs in a namespace of its own
// (internal/netlab; skipped without root), where the test changes links,
// addresses and routes with ip(8).

func watch(t *testing.T) (*netlab.NS, *netwatch.Watcher) {
	t.Helper()
	lab := netlab.New(t)
	ns := lab.Namespace("w")
	var w *netwatch.Watcher
	if err := ns.Do(func() (err error) {
		w, err = netwatch.New(netwatch.Config{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return ns, w
}

func next(t *testing.T, w *netwatch.Watcher) netwatch.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case c := <-w.Changes():
		return c
	case <-ctx.Done():
		t.Fatal("no network change reported")
	}
	return netwatch.Change{}
}

// TestWatcherReportsWhatMatters: an interface coming up, an address, a
// default route, each one Change; loopback, link-local and container
// interfaces are not changes, and a burst is one Change.
func TestWatcherReportsWhatMatters(t *testing.T) {
	ns, w := watch(t)
	// veth pairs (this kernel has no dummy): the peers' names start
	// with veth, so their own changes are ignored.
	ns.MustRun("ip", "link", "add", "wan0", "type", "veth", "peer", "name", "veth-wan0")
	ns.MustRun("ip", "link", "set", "veth-wan0", "up")
	ns.MustRun("ip", "link", "set", "wan0", "up")
	if c := next(t, w); !strings.Contains(c.String(), "interface wan0 up") {
		t.Fatalf("change %q, want wan0 up", c)
	}

	// Not changes: loopback's addresses, a container bridge's, link-local.
	ns.MustRun("ip", "addr", "add", "127.0.0.5/8", "dev", "lo")
	ns.MustRun("ip", "link", "add", "docker0", "type", "veth", "peer", "name", "veth-docker0")
	ns.MustRun("ip", "link", "set", "veth-docker0", "up")
	ns.MustRun("ip", "link", "set", "docker0", "up")
	ns.MustRun("ip", "addr", "add", "172.17.0.1/16", "dev", "docker0")
	ns.MustRun("ip", "addr", "add", "fe80::1234/64", "dev", "wan0")
	// A change.
	ns.MustRun("ip", "addr", "add", "10.1.0.2/24", "dev", "wan0")
	if c := next(t, w); c.Events != 1 || c.String() != "address 10.1.0.2/24 added on wan0" {
		t.Fatalf("change %q (%d events), want only the address on wan0", c, c.Events)
	}

	ns.MustRun("ip", "route", "add", "default", "via", "10.1.0.1")
	if c := next(t, w); c.Events != 1 || c.String() != "default route via 10.1.0.1 dev wan0 added" {
		t.Fatalf("change %q (%d events), want the default route", c, c.Events)
	}

	// A burst (a DHCP renew, a roam): one Change.
	cmd := ns.Command("ip", "-batch", "-")
	var batch strings.Builder
	for i := 10; i < 20; i++ {
		batch.WriteString("addr add 10.1.0." + itoa(i) + "/24 dev wan0\n")
	}
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ip -batch: %v: %s", err, out)
	}
	if c := next(t, w); c.Events != 10 || len(c.Why) != 4 || !strings.HasSuffix(c.String(), "and 6 more") {
		t.Fatalf("burst: change %q (%d events), want one of 10 events", c, c.Events)
	}

	// Down and away: the address removed, the link down.
	ns.MustRun("ip", "link", "set", "wan0", "down")
	if c := next(t, w); !strings.Contains(c.String(), "interface wan0 down") {
		t.Fatalf("change %q, want wan0 down", c)
	}
	select {
	case c := <-w.Changes():
		t.Fatalf("a change after the last one: %q", c)
	default:
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != netwatch.ErrClosed {
		t.Fatalf("second Close: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{"eth0": false, "wlan0": false, "wwan0": false, "docker0": true, "veth12ab": true, "br-1f2e": true, "virbr0": true} {
		if netwatch.Ignored(name) != want {
			t.Errorf("Ignored(%s) = %v", name, !want)
		}
	}
}

func TestChangeString(t *testing.T) {
	c := netwatch.Change{Events: 3, Why: []string{"a", "b"}}
	if c.String() != "a; b; and 1 more" {
		t.Fatal(c.String())
	}
}
