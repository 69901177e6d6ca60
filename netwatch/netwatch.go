// Package netwatch tells kioskd when the host's network has changed in a
// way that can break or improve a call's media path: Wi-Fi ↔ Ethernet ↔
// 4G, a DHCP renew with a new address, a new default route. It listens to
// the kernel's rtnetlink multicast groups (links, IPv4 and IPv6 addresses,
// routes) on a raw netlink socket (golang.org/x/sys/unix, already a
// dependency: no netlink library), filters what matters (Relevant), and
// debounces a burst of kernel events into one Change.
//
// The policy, in docs/BEHAVIOUR.md's words (network changes):
//
//   - an address added or removed, of global or site scope (not a
//     loopback's host-scope address, not an IPv6 link-local fe80::), on an
//     interface that is not loopback and not ignored;
//   - a default route (destination length 0) of the main table added or
//     removed;
//   - an interface that is not loopback and not ignored coming up or going
//     down (IFF_RUNNING: carrier and administrative state);
//   - ignored interfaces are the host sides of containers and VMs, whose
//     changes say nothing about the kiosk's uplink: names starting with
//     docker, br-, veth, virbr, cni, flannel (IgnoredPrefixes).
//
// Everything else (neighbour entries, statistics, routes other than the
// default one, link attributes that do not change IFF_RUNNING) is not a
// network change.
package netwatch

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kioskd/kioskd/internal/clock"
)

// Defaults of the debounce (Config).
const (
	// DefaultQuiet is how long the kernel must stay quiet after an event
	// before the Change goes out: a DHCP client replaces an address and
	// its routes in a handful of messages within milliseconds, a Wi-Fi
	// roam in a few hundred.
	DefaultQuiet = 300 * time.Millisecond
	// DefaultMaxDelay bounds the wait in a storm of events (a flapping
	// link): a Change goes out at most this long after the first event.
	DefaultMaxDelay = 2 * time.Second
)

// IgnoredPrefixes are the interface names whose changes are not the
// kiosk's network (container and VM plumbing).
var IgnoredPrefixes = []string{"docker", "br-", "veth", "virbr", "cni", "flannel"}

// ErrClosed is Close's result on a second call.
var ErrClosed = errors.New("netwatch: closed")

// Change is one debounced network change.
type Change struct {
	// Events is how many relevant kernel events it covers.
	Events int
	// Why describes the first few of them ("address 10.2.0.2/24 added on
	// wan1"), for the log.
	Why []string
}

func (c Change) String() string {
	s := strings.Join(c.Why, "; ")
	if more := c.Events - len(c.Why); more > 0 {
		s += fmt.Sprintf("; and %d more", more)
	}
	return s
}

// maxWhy bounds Change.Why, whatever the burst.
const maxWhy = 4

// Config configures a Watcher.
type Config struct {
	Quiet    time.Duration // 0: DefaultQuiet
	MaxDelay time.Duration // 0: DefaultMaxDelay
	Clock    clock.Clock   // nil: the wall clock
	Log      *slog.Logger  // nil: discard
}

// Watcher watches the network namespace it was created in.
type Watcher struct {
	cfg     Config
	fd      int
	changes chan Change
	events  chan string
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	filter  *Filter
}

// New opens the netlink socket (it belongs to the calling thread's network
// namespace) and starts watching. Under systemd it needs AF_NETLINK in
// RestrictAddressFamilies.
func New(cfg Config) (*Watcher, error) {
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netwatch: netlink socket: %w", err)
	}
	groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR |
		unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netwatch: netlink bind: %w", err)
	}
	// A read timeout lets the reader see Close without racing a close of
	// the descriptor it is blocked on.
	tv := unix.Timeval{Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netwatch: netlink timeout: %w", err)
	}
	w := &Watcher{
		cfg: cfg, fd: fd,
		changes: make(chan Change, 1),
		events:  make(chan string, 64),
		done:    make(chan struct{}),
		filter:  NewFilter(),
	}
	// Every interface first (their names, loopback, running), so that a
	// change is told apart from a first sight.
	if err := dumpLinks(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netwatch: netlink dump: %w", err)
	}
	w.wg.Add(2)
	go w.read()
	go w.debounce()
	return w, nil
}

// Changes delivers the debounced changes. A receiver that is slow loses
// nothing that matters: a pending Change absorbs the later events.
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Close stops watching and closes the socket.
func (w *Watcher) Close() error {
	err := ErrClosed
	w.once.Do(func() {
		close(w.done)
		w.wg.Wait()
		err = unix.Close(w.fd)
	})
	return err
}

func (w *Watcher) read() {
	defer w.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-w.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(w.fd, buf, 0)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
			case errors.Is(err, unix.ENOBUFS):
				// The kernel dropped messages (a storm): something
				// changed, we do not know what.
				w.event("netlink messages lost (a burst of changes)")
			default:
				w.cfg.Log.Warn("netlink read failed; network changes are no longer watched", "error", os.NewSyscallError("recvfrom", err))
				return
			}
			continue
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			w.cfg.Log.Debug("unparsable netlink message ignored", "error", err)
			continue
		}
		for _, m := range msgs {
			if why := w.filter.Relevant(m); why != "" {
				w.event(why)
			}
		}
	}
}

func (w *Watcher) event(why string) {
	select {
	case w.events <- why:
	case <-w.done:
	}
}

// debounce turns events into Changes: one Change once the kernel has
// been quiet for Quiet, or MaxDelay after the first event of a burst.
func (w *Watcher) debounce() {
	defer w.wg.Done()
	var (
		pending       Change
		quiet, capped clock.Timer
	)
	stop := func() {
		if quiet != nil {
			quiet.Stop()
			capped.Stop()
			quiet, capped = nil, nil
		}
	}
	defer stop()
	ch := func(t clock.Timer) <-chan time.Time {
		if t == nil {
			return nil
		}
		return t.C()
	}
	for {
		select {
		case <-w.done:
			return
		case why := <-w.events:
			pending.Events++
			if len(pending.Why) < maxWhy {
				pending.Why = append(pending.Why, why)
			}
			if quiet == nil {
				quiet, capped = w.cfg.Clock.NewTimer(w.cfg.Quiet), w.cfg.Clock.NewTimer(w.cfg.MaxDelay)
			} else {
				quiet.Reset(w.cfg.Quiet)
			}
			continue
		case <-ch(quiet):
		case <-ch(capped):
		}
		stop()
		w.deliver(pending)
		pending = Change{}
	}
}

// deliver hands c over, merging it into a Change the receiver has not
// taken yet.
func (w *Watcher) deliver(c Change) {
	select {
	case w.changes <- c:
		return
	default:
	}
	select {
	case old := <-w.changes:
		old.Events += c.Events
		for _, why := range c.Why {
			if len(old.Why) < maxWhy {
				old.Why = append(old.Why, why)
			}
		}
		c = old
	default:
	}
	select {
	case w.changes <- c:
	case <-w.done:
	}
}

// dumpLinks asks the kernel for every link; the answers come to the
// reader like any other message.
func dumpLinks(fd int) error {
	req := make([]byte, unix.NLMSG_HDRLEN+unix.SizeofRtGenmsg)
	hdr := (*unix.NlMsghdr)(unsafe.Pointer(&req[0]))
	hdr.Len = uint32(len(req))
	hdr.Type = unix.RTM_GETLINK
	hdr.Flags = unix.NLM_F_REQUEST | unix.NLM_F_DUMP
	hdr.Seq = 1
	req[unix.NLMSG_HDRLEN] = unix.AF_UNSPEC
	return unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}
