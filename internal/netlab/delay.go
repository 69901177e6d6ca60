package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DelaySkip returns why Delay cannot work here, or "": it needs
// iptables-legacy (the host kernel has iptables' NFQUEUE target but no
// nftables queue expression) besides what Skip checks.
func DelaySkip() string {
	if why := Skip(); why != "" {
		return why
	}
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		return "netlab's delay line needs iptables-legacy (apt-get install iptables; scripts/install-deps.sh installs it)"
	}
	return ""
}

// DelayCapacity is how many packets a delay line holds at most (per
// direction); the next ones are dropped, as netem's default limit of 1000
// drops them. At 75 ms it is far above what a link of the lab carries.
const DelayCapacity = 1000

// DelayLine holds every packet leaving one interface of a namespace for a
// fixed time, then lets it go on, in the order it came: real propagation
// delay without sch_netem, which this host's kernel lacks. The packets are
// the kernel's own: an iptables (legacy) rule in the OUTPUT chain hands
// them to a netfilter queue (NFQUEUE), and this process issues each
// verdict the delay after the packet's notice arrived. Output comes
// before the interface's qdisc, so with Rate the delay sits in front of
// the tbf bottleneck (as netem's does on a sender's egress): the tbf
// queue still fills at the link's rate, the delay adds to it.
//
// Overflow: the kernel holds at most DelayCapacity packets awaiting their
// verdicts and drops new ones past that (Stats' Dropped).
type DelayLine struct {
	ns    *NS
	dev   string
	num   uint16
	delay time.Duration
	q     *nfqueue
	held  chan held
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	passed atomic.Int64
	mu     sync.Mutex
	err    error // the first error of the reader or the releaser
}

type held struct {
	id  uint32
	due time.Time
}

// delayQueues numbers the lab's queues: each delay line binds its own.
var delayQueues atomic.Uint32

// Delay delays every packet leaving dev by d (the test fails if it cannot
// be set up), until the test's end or Close.
func (ns *NS) Delay(dev string, d time.Duration) *DelayLine {
	ns.lab.tb.Helper()
	dl, err := ns.startDelay(dev, d, DelayCapacity)
	if err != nil {
		ns.lab.tb.Fatalf("netlab: delay on %s in %s: %v", dev, ns.Name, err)
	}
	ns.lab.tb.Cleanup(dl.Close)
	return dl
}

func (ns *NS) startDelay(dev string, d time.Duration, capacity int) (*DelayLine, error) {
	if why := DelaySkip(); why != "" {
		return nil, errors.New(why)
	}
	if d <= 0 || capacity < 1 {
		return nil, fmt.Errorf("delay %v, capacity %d: want both positive", d, capacity)
	}
	num := uint16(delayQueues.Add(1) % 65536)
	dl := &DelayLine{ns: ns, dev: dev, delay: d, held: make(chan held, capacity), done: make(chan struct{})}
	if err := ns.Do(func() (err error) {
		dl.q, err = openNfqueue(num, capacity)
		return err
	}); err != nil {
		return nil, err
	}
	// The queue is bound before the rule exists: a packet queued to no one
	// would be dropped.
	if out, err := ns.Command("iptables-legacy", dl.rule("-A", num)...).CombinedOutput(); err != nil {
		dl.q.Close()
		return nil, fmt.Errorf("iptables-legacy: %v: %s", err, bytes.TrimSpace(out))
	}
	dl.num = num
	dl.wg.Add(2)
	go dl.read()
	go dl.release()
	return dl, nil
}

func (dl *DelayLine) rule(op string, num uint16) []string {
	return []string{"-w", op, "OUTPUT", "-o", dl.dev, "-j", "NFQUEUE", "--queue-num", fmt.Sprint(num)}
}

// read takes the kernel's packet notices and lines them up, due the delay
// after their arrival here.
func (dl *DelayLine) read() {
	defer dl.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		ids, err := dl.q.packets(buf)
		now := time.Now()
		if err != nil {
			select {
			case <-dl.done:
			default:
				dl.fail(err)
			}
			return
		}
		for _, id := range ids {
			select {
			case dl.held <- held{id: id, due: now.Add(dl.delay)}:
			default:
				// The kernel holds at most the channel's capacity, so this
				// is a bug, not an overflow: drop rather than block.
				dl.fail(fmt.Errorf("delay line: packet %d past the capacity", id))
				_ = dl.q.verdict(id, nfDrop)
			}
		}
	}
}

// release lets each packet go when it is due: they are due in the order
// they came, so one timer for the head of the line keeps that order.
func (dl *DelayLine) release() {
	defer dl.wg.Done()
	t := time.NewTimer(0)
	<-t.C
	for {
		var h held
		select {
		case <-dl.done:
			return
		case h = <-dl.held:
		}
		if wait := time.Until(h.due); wait > 0 {
			t.Reset(wait)
			select {
			case <-dl.done:
				return
			case <-t.C:
			}
		}
		dl.passed.Add(1) // before the verdict: Stats never lags what arrived
		if err := dl.q.verdict(h.id, nfAccept); err != nil {
			dl.fail(err)
			return
		}
	}
}

func (dl *DelayLine) fail(err error) {
	dl.mu.Lock()
	if dl.err == nil {
		dl.err = err
	}
	dl.mu.Unlock()
}

// DelayStats is what a delay line did.
type DelayStats struct {
	Passed  int64 // packets let go after the delay
	Dropped int64 // packets the kernel dropped with the line full
	Err     error // the first error of the line (nil while it works)
}

// Stats reads the line's counts (the kernel's from its
// /proc/net/netfilter/nfnetlink_queue inside the namespace).
func (dl *DelayLine) Stats() DelayStats {
	s := DelayStats{Passed: dl.passed.Load()}
	dl.mu.Lock()
	s.Err = dl.err
	dl.mu.Unlock()
	out, err := dl.ns.Command("cat", "/proc/net/netfilter/nfnetlink_queue").Output()
	if err != nil {
		return s
	}
	for _, l := range strings.Split(string(out), "\n") {
		// queue, portid, waiting, copy mode, copy range, dropped, user dropped, id, 1
		var num, portid, waiting, mode, rng, dropped, userDropped int64
		if n, _ := fmt.Sscan(l, &num, &portid, &waiting, &mode, &rng, &dropped, &userDropped); n == 7 && num == int64(dl.num) {
			s.Dropped = dropped + userDropped
		}
	}
	return s
}

// Close removes the rule and unbinds the queue (the packets still held are
// dropped). Safe to call more than once.
func (dl *DelayLine) Close() {
	dl.once.Do(func() {
		_ = dl.ns.Command("iptables-legacy", dl.rule("-D", dl.num)...).Run()
		close(dl.done)
		_ = dl.q.Close()
		dl.wg.Wait()
	})
}
