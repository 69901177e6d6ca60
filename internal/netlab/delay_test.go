package netlab

import (
	"context"
	"encoding/binary"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func delayLab(t *testing.T) *NS {
	t.Helper()
	if why := DelaySkip(); why != "" {
		t.Skip(why)
	}
	return New(t).Namespace("a")
}

// datagram is what the delay tests send: a sequence number and the time
// it was sent.
func sendNumbered(c net.Conn, seq int) error {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	_, err := c.Write(b[:])
	return err
}

type arrival struct {
	seq   int
	delay time.Duration
}

// receive reads numbered datagrams until want have come or nothing comes
// for quiet.
func receive(t *testing.T, pc net.PacketConn, want int, quiet time.Duration) []arrival {
	t.Helper()
	var got []arrival
	buf := make([]byte, 64)
	for len(got) < want {
		_ = pc.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		if n < 16 {
			t.Fatalf("a datagram of %d bytes", n)
		}
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(buf[8:])))
		got = append(got, arrival{seq: int(binary.BigEndian.Uint64(buf)), delay: time.Since(sent)})
	}
	return got
}

// Real kernel packets through the delay line: every one arrives, in the
// order sent, none earlier than the delay and most within a few
// milliseconds of it (the timer and the scheduler's share; a loaded
// machine may stretch one, never shorten it).
func TestDelayLineKeepsOrderAndDelays(t *testing.T) {
	a := delayLab(t)
	pc := listenPacketIn(t, a, "127.0.0.1:7100")
	c, err := a.DialContext(context.Background(), "udp", "127.0.0.1:7100")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const d, n = 75 * time.Millisecond, 100
	dl := a.Delay("lo", d)

	go func() {
		for i := range n {
			if err := sendNumbered(c, i); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(3 * time.Millisecond) // the traffic's pace, not a synchronisation
		}
	}()
	got := receive(t, pc, n, 5*time.Second)
	if len(got) != n {
		t.Fatalf("%d of %d datagrams arrived", len(got), n)
	}
	delays := make([]time.Duration, n)
	for i, g := range got {
		if g.seq != i {
			t.Fatalf("datagram %d arrived as the %dth: order not kept", g.seq, i)
		}
		if g.delay < d {
			t.Errorf("datagram %d after %v, less than the %v delay", i, g.delay, d)
		}
		delays[i] = g.delay
	}
	slices.Sort(delays)
	median := delays[n/2]
	t.Logf("delay %v: min %v, median %v, max %v", d, delays[0], median, delays[n-1])
	if median > d+50*time.Millisecond {
		t.Errorf("median delay %v, more than 50 ms over the %v asked", median, d)
	}
	if s := dl.Stats(); s.Passed < n || s.Dropped != 0 || s.Err != nil {
		t.Errorf("stats %+v: want at least %d passed, none dropped, no error", s, n)
	}

	// Closed, the line leaves no rule behind.
	dl.Close()
	out, err := a.Command("iptables-legacy", "-S", "OUTPUT").CombinedOutput()
	if err != nil || strings.Contains(string(out), "NFQUEUE") {
		t.Errorf("after Close: %v: %s", err, out)
	}
}

// A burst larger than the line's capacity, sent well within the delay:
// the first capacity packets go on, in order, and the kernel drops the
// rest (tail drop) and counts them.
func TestDelayLineOverflowDropsTheTail(t *testing.T) {
	a := delayLab(t)
	pc := listenPacketIn(t, a, "127.0.0.1:7101")
	c, err := a.DialContext(context.Background(), "udp", "127.0.0.1:7101")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const capacity, burst = 10, 30
	// A second: the burst of 30 small datagrams is sent long before the
	// first is released, however loaded the machine.
	dl, err := a.startDelay("lo", time.Second, capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dl.Close)
	for i := range burst {
		if err := sendNumbered(c, i); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, pc, burst, 1500*time.Millisecond)
	if len(got) != capacity {
		t.Fatalf("%d datagrams arrived, want the line's capacity %d", len(got), capacity)
	}
	for i, g := range got {
		if g.seq != i {
			t.Fatalf("datagram %d arrived as the %dth: want the head of the burst in order", g.seq, i)
		}
	}
	if s := dl.Stats(); s.Dropped != burst-capacity || s.Passed != capacity || s.Err != nil {
		t.Errorf("stats %+v: want %d dropped, %d passed, no error", s, burst-capacity, capacity)
	}
}

// Bad arguments are refused before anything is set up.
func TestDelayLineRefusesBadArguments(t *testing.T) {
	a := delayLab(t)
	for _, tc := range []struct {
		d   time.Duration
		cap int
	}{{0, 10}, {-time.Millisecond, 10}, {time.Millisecond, 0}} {
		if dl, err := a.startDelay("lo", tc.d, tc.cap); err == nil {
			dl.Close()
			t.Errorf("delay %v capacity %d accepted", tc.d, tc.cap)
		}
	}
	if out, _ := exec.Command("ip", "netns", "exec", a.Name, "iptables-legacy", "-S", "OUTPUT").CombinedOutput(); strings.Contains(string(out), "NFQUEUE") {
		t.Errorf("a refused line left a rule: %s", out)
	}
}
