package netlab

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"time"
)

// RTTProbe measures the round-trip time of a lab's path with small UDP
// datagrams echoed back (the host has no ping; and a probe of its own
// reports every sample to the test). The datagrams cross the same qdiscs
// and rules as the media, so a queue that grows at a link's rate limit
// shows as RTT; a lost probe is simply not counted.
type RTTProbe struct {
	conn   net.Conn
	echo   net.PacketConn
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	samples []time.Duration
}

// StartRTTProbe echoes UDP at addr (host:port) inside to, and sends a
// probe there from inside from every interval, until the test ends.
func StartRTTProbe(from, to *NS, addr string, every time.Duration) (*RTTProbe, error) {
	p := &RTTProbe{}
	if err := to.Do(func() (err error) {
		p.echo, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		return nil, err
	}
	c, err := from.DialContext(context.Background(), "udp", addr)
	if err != nil {
		_ = p.echo.Close()
		return nil, err
	}
	p.conn = c
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(3)
	go p.serve()
	go p.receive()
	go p.send(ctx, every)
	from.lab.tb.Cleanup(p.Close)
	return p, nil
}

func (p *RTTProbe) serve() {
	defer p.wg.Done()
	buf := make([]byte, 64)
	for {
		n, a, err := p.echo.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = p.echo.WriteTo(buf[:n], a)
	}
}

func (p *RTTProbe) send(ctx context.Context, every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	var buf [16]byte
	for {
		binary.BigEndian.PutUint64(buf[:], uint64(time.Now().UnixNano()))
		_, _ = p.conn.Write(buf[:])
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *RTTProbe) receive() {
	defer p.wg.Done()
	var buf [64]byte
	for {
		n, err := p.conn.Read(buf[:])
		if err != nil {
			return
		}
		if n < 8 {
			continue
		}
		rtt := time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(buf[:]))))
		p.mu.Lock()
		p.samples = append(p.samples, rtt)
		p.mu.Unlock()
	}
}

// Take returns the samples since the last Take, sorted, and forgets them.
func (p *RTTProbe) Take() []time.Duration {
	p.mu.Lock()
	s := p.samples
	p.samples = nil
	p.mu.Unlock()
	slices.Sort(s)
	return s
}

// Median is the middle of sorted samples (0 for none).
func Median(sorted []time.Duration) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)/2]
}

// Close stops the probe. Safe to call more than once.
func (p *RTTProbe) Close() {
	p.cancel()
	_ = p.conn.Close()
	_ = p.echo.Close()
	p.wg.Wait()
}
