package netlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Two namespaces joined by a veth: TCP goes through; after BlockUDP, UDP
// does not while TCP still does; the namespaces are gone after Close.
func TestLabLinkAndBlockUDP(t *testing.T) {
	l := New(t)
	a, b := l.Namespace("a"), l.Namespace("b")
	ifA, _ := l.Link(a, "10.99.0.1/24", b, "10.99.0.2/24")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A UDP echo and a TCP listener inside b, opened by this process.
	ln := listenIn(t, b, "tcp", "10.99.0.2:7001")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hi")
			c.Close()
		}
	}()
	if err := a.WaitTCP(ctx, "10.99.0.2:7001"); err != nil {
		t.Fatal(err)
	}
	pc := listenPacketIn(t, b, "10.99.0.2:7002")
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	if !udpEcho(t, a, "10.99.0.2:7002") {
		t.Fatal("UDP does not pass before BlockUDP")
	}
	a.BlockUDP(ifA)
	if udpEcho(t, a, "10.99.0.2:7002") {
		t.Fatal("UDP passes after BlockUDP")
	}
	if err := a.WaitTCP(ctx, "10.99.0.2:7001"); err != nil {
		t.Fatalf("TCP blocked too: %v", err)
	}
	// BlockUDPExcept in place of BlockUDP: UDP to the one port passes.
	a.MustRun("nft", "delete", "table", "inet", "netlab_udp")
	turn := listenPacketIn(t, b, "10.99.0.2:3478")
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := turn.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = turn.WriteTo(buf[:n], from)
		}
	}()
	a.BlockUDPExcept(ifA, "10.99.0.2", 3478)
	if !udpEcho(t, a, "10.99.0.2:3478") {
		t.Fatal("UDP to the allowed port does not pass BlockUDPExcept")
	}
	if udpEcho(t, a, "10.99.0.2:7002") {
		t.Fatal("UDP to another port passes BlockUDPExcept")
	}
	l.Close()
	for _, ns := range []*NS{a, b} {
		if err := ns.Command("true").Run(); err == nil {
			t.Errorf("namespace %s still exists after Close", ns.Name)
		}
	}
}

// A namespace left by a test process that is gone is deleted by the next
// lab; one of a live process is not.
func TestStaleNamespacesAreReaped(t *testing.T) {
	if why := Skip(); why != "" {
		t.Skip(why)
	}
	// A pid that is not running: past the kernel's pid_max.
	stale, live := "nl4194999-1-x", fmt.Sprintf("nl%d-999-x", os.Getpid())
	for _, n := range []string{stale, live} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	defer exec.Command("ip", "netns", "del", live).Run()
	defer exec.Command("ip", "netns", "del", stale).Run()
	New(t)
	if _, err := os.Stat("/run/netns/" + stale); err == nil {
		t.Error("the stale namespace is still there")
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("the live process's namespace is gone: %v", err)
	}
}

func listenIn(t *testing.T, ns *NS, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() (err error) { ln, err = net.Listen(network, addr); return })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func listenPacketIn(t *testing.T, ns *NS, addr string) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	err := ns.Do(func() (err error) { pc, err = net.ListenPacket("udp", addr); return })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// udpEcho says whether a datagram to addr comes back: up to 8 tries, each
// given 300 ms (a fresh veth may drop the first while its carrier and
// neighbour settle, and a loaded machine may be slow to echo).
func udpEcho(t *testing.T, ns *NS, addr string) bool {
	t.Helper()
	c, err := ns.DialContext(context.Background(), "udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 8)
	for range 8 {
		if _, err := c.Write([]byte("ping")); err != nil {
			continue // a local drop may refuse the send
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(buf); err == nil && string(buf[:n]) == "ping" {
			return true
		}
	}
	return false
}

// Loss at 100 % drops every datagram leaving the link, and Rate puts a
// tbf qdisc on it: the building blocks of the lossy and slow scenarios.
func TestLossAndRate(t *testing.T) {
	l := New(t)
	a, b := l.Namespace("a"), l.Namespace("b")
	ifA, _ := l.Link(a, "10.98.0.1/24", b, "10.98.0.2/24")
	pc := listenPacketIn(t, b, "10.98.0.2:7002")
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	if !udpEcho(t, a, "10.98.0.2:7002") {
		t.Fatal("UDP does not pass before Loss")
	}
	a.Loss(ifA, 100)
	if udpEcho(t, a, "10.98.0.2:7002") {
		t.Fatal("UDP passes with 100 % loss")
	}
	a.Rate(ifA, 120)
	out, err := a.Command("tc", "qdisc", "show", "dev", ifA).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tbf") || !strings.Contains(string(out), "120Kbit") {
		t.Fatalf("tc qdisc show: %v: %s", err, out)
	}
}
