//go:build livekit

package livekit_test

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v5"

	"github.com/kioskd/kioskd/dialect/livekit"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/rtc"
	"github.com/kioskd/kioskd/session"
)

// deadNet is the network the kiosk's ICE gathers on, with a switch that
// kills every UDP socket ICE holds at that moment: their packets vanish
// both ways, as on a NAT that dropped its mapping or a link that went
// dark. Sockets made afterwards (an ICE restart gathers anew) work. The
// signalling's WebSocket does not go through it and lives on.
type deadNet struct {
	transport.Net
	mu    sync.Mutex
	conns []*deadableConn
}

func (n *deadNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	d := &deadableConn{UDPConn: c}
	n.mu.Lock()
	n.conns = append(n.conns, d)
	n.mu.Unlock()
	return d, nil
}

func (n *deadNet) ListenPacket(network, address string) (net.PacketConn, error) {
	if strings.HasPrefix(network, "udp") {
		addr, err := n.ResolveUDPAddr(network, address)
		if err != nil {
			return nil, err
		}
		return n.ListenUDP(network, addr)
	}
	return n.Net.ListenPacket(network, address)
}

// kill makes every socket made so far drop all it sends and receives; it
// returns how many.
func (n *deadNet) kill() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, c := range n.conns {
		c.dead.Store(true)
	}
	return len(n.conns)
}

type deadableConn struct {
	transport.UDPConn
	dead atomic.Bool
}

func (c *deadableConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(b)
		if err != nil || !c.dead.Load() {
			return n, addr, err
		}
	}
}

func (c *deadableConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFromUDP(b)
		if err != nil || !c.dead.Load() {
			return n, addr, err
		}
	}
}

func (c *deadableConn) ReadMsgUDP(b, oob []byte) (int, int, int, *net.UDPAddr, error) {
	for {
		n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDP(b, oob)
		if err != nil || !c.dead.Load() {
			return n, oobn, flags, addr, err
		}
	}
}

func (c *deadableConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.dead.Load() {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, addr)
}

func (c *deadableConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if c.dead.Load() {
		return len(b), nil
	}
	return c.UDPConn.WriteToUDP(b, addr)
}

func (c *deadableConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (int, int, error) {
	if c.dead.Load() {
		return len(b), len(oob), nil
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

// The media path lost while signalling lives (every socket of the kiosk's
// ICE goes dark; the WebSocket is untouched) is what LiveKit's clients
// resume on a failed PeerConnection: once ICE reports disconnected the
// call resumes in-call (a new signal channel as the same participant, ICE
// restarted on both PeerConnections, gathering new sockets), and stays
// Connected: no Disconnected, no rejoin, the same participant SID. Before
// this, the call waited for ICE to fail and rejoined the room.
func TestMediaPathLostResumesInCall(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-media-lost"
	dp := srv.JoinDP(t, room, "dp-1")
	n, err := rtc.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	dn := &deadNet{Net: n.Net}
	n.Net = dn
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false), func(_ *session.Config, c *livekit.Config) {
		c.Peer.Net = n
	})
	k.rec.WaitFor(t, ctx, "Connected", connected(1))
	sid := srv.ParticipantSID(t, room, "kiosk-1")
	k.sink.waitAudio(t, ctx, 10)
	before := dp.Received()

	if dn.kill() == 0 {
		t.Fatal("the kiosk's ICE made no socket through the test's network")
	}
	k.sink.Mark()
	line := k.log.wait(t, ctx, msgResumed, 1)
	if !k.log.has(msgResume, "why", "the publisher's media path is lost (ICE disconnected)") &&
		!k.log.has(msgResume, "why", "the subscriber's media path is lost (ICE disconnected)") {
		t.Fatal("the resume was not for the lost media path (see its why in the log above)")
	}
	checkResumedInCall(t, ctx, k, srv, dp, room, sid, before)
	t.Logf("media path lost: resumed in %v ms after ICE's disconnected timeout; the DP's voice at the kiosk: longest gap %v",
		line.Attrs["took_ms"], k.sink.MaxGap())
}
