package netlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// nfqueue is a minimal client of the kernel's netfilter queue
// (nfnetlink_queue, what iptables' NFQUEUE target hands packets to): it
// binds one queue number of the namespace it was opened in, asks for the
// packets' metadata only (their ids, not their bytes), reads them and
// issues verdicts. The kernel keeps every queued packet until its verdict,
// at most maxLen of them; past that it drops new ones (no fail-open), so
// the queue's overflow is a tail drop the kernel counts. Written on raw
// netlink (x/sys/unix) rather than a new module dependency: the protocol
// needed here is four messages.
type nfqueue struct {
	f   *os.File // the netlink socket, non-blocking, in the runtime's poller
	rc  syscall.RawConn
	num uint16
	seq atomic.Uint32
}

// The kernel's constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr      = 1 // struct nfqnl_msg_packet_hdr { be32 id; be16 proto; u8 hook }
	nfqaVerdictHdr     = 2 // struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id }
	nfqaCfgCmd         = 1 // struct nfqnl_msg_config_cmd { u8 cmd; u8 pad; be16 pf }
	nfqaCfgParams      = 2 // struct nfqnl_msg_config_params { be32 range; u8 mode } (packed)
	nfqaCfgQueueMaxlen = 3 // be32
	nfqaCfgMask        = 4 // be32
	nfqaCfgFlags       = 5 // be32

	nfqnlCfgCmdBind = 1
	nfqnlCopyMeta   = 1
	nfqaCfgFGSO     = 1 << 2 // GSO packets whole, not segmented first

	nfDrop   = 0
	nfAccept = 1
)

// errNfqueue wraps what the kernel refused.
var errNfqueue = errors.New("netlab: nfqueue")

// openNfqueue binds queue num in the calling thread's network namespace
// (call it inside NS.Do) with room for maxLen packets awaiting verdicts.
func openNfqueue(num uint16, maxLen int) (*nfqueue, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("%w: socket: %v", errNfqueue, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: bind: %v", errNfqueue, err)
	}
	// Room for far more packet notices than the queue can hold (each is
	// about 100 bytes with metadata only): a notice the socket drops
	// (ENOBUFS) would leave its packet held for ever.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	q := &nfqueue{f: os.NewFile(uintptr(fd), "nfqueue"), num: num}
	if q.rc, err = q.f.SyscallConn(); err != nil {
		q.f.Close()
		return nil, err
	}
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0}
	params := binary.BigEndian.AppendUint32(nil, 0xffff)
	params = append(params, nfqnlCopyMeta)
	steps := [][]byte{
		attr(nfqaCfgCmd, cmd),
		append(append(attr(nfqaCfgParams, params),
			attr(nfqaCfgQueueMaxlen, binary.BigEndian.AppendUint32(nil, uint32(maxLen)))...),
			append(attr(nfqaCfgMask, binary.BigEndian.AppendUint32(nil, nfqaCfgFGSO)),
				attr(nfqaCfgFlags, binary.BigEndian.AppendUint32(nil, nfqaCfgFGSO))...)...),
	}
	for _, attrs := range steps {
		if err := q.request(nfqnlMsgConfig, unix.NLM_F_ACK, attrs); err != nil {
			q.f.Close()
			return nil, err
		}
		if err := q.ack(); err != nil {
			q.f.Close()
			return nil, err
		}
	}
	return q, nil
}

// attr is one netlink attribute, padded to 4 bytes.
func attr(typ uint16, data []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// request sends one nfnetlink message of the queue subsystem.
func (q *nfqueue) request(msg uint16, flags uint16, attrs []byte) error {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+4+len(attrs))
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.NLMSG_HDRLEN+4+len(attrs)))
	binary.NativeEndian.PutUint16(b[4:], unix.NFNL_SUBSYS_QUEUE<<8|msg)
	binary.NativeEndian.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	binary.NativeEndian.PutUint32(b[8:], q.seq.Add(1))
	b = append(b, unix.AF_UNSPEC, unix.NFNETLINK_V0)
	b = binary.BigEndian.AppendUint16(b, q.num)
	b = append(b, attrs...)
	var serr error
	err := q.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("%w: send: %v", errNfqueue, err)
	}
	return nil
}

// ack reads the kernel's answer to the last request (NLM_F_ACK).
func (q *nfqueue) ack() error {
	buf := make([]byte, 8192)
	n, err := q.recv(buf)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return fmt.Errorf("%w: %v", errNfqueue, err)
	}
	for _, m := range msgs {
		if m.Header.Type == unix.NLMSG_ERROR && len(m.Data) >= 4 {
			if code := int32(binary.NativeEndian.Uint32(m.Data)); code != 0 {
				return fmt.Errorf("%w: queue %d: %v", errNfqueue, q.num, syscall.Errno(-code))
			}
			return nil
		}
	}
	return fmt.Errorf("%w: no acknowledgement", errNfqueue)
}

// recv reads one datagram, waiting in the runtime's poller (so Close ends
// a blocked read).
func (q *nfqueue) recv(buf []byte) (int, error) {
	var n int
	var rerr error
	err := q.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, fmt.Errorf("%w: recv: %w", errNfqueue, err)
	}
	return n, nil
}

// packets reads the next datagram's packet notices and returns their ids.
func (q *nfqueue) packets(buf []byte) ([]uint32, error) {
	n, err := q.recv(buf)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNfqueue, err)
	}
	var ids []uint32
	for _, m := range msgs {
		if m.Header.Type != unix.NFNL_SUBSYS_QUEUE<<8|nfqnlMsgPacket || len(m.Data) < 4 {
			continue
		}
		for a := m.Data[4:]; len(a) >= 4; {
			l := int(binary.NativeEndian.Uint16(a))
			typ := binary.NativeEndian.Uint16(a[2:]) & 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
			if l < 4 || l > len(a) {
				break
			}
			if typ == nfqaPacketHdr && l >= 8 {
				ids = append(ids, binary.BigEndian.Uint32(a[4:]))
			}
			a = a[min((l+3)&^3, len(a)):]
		}
	}
	return ids, nil
}

// verdict lets packet id go on (nfAccept) or drops it (nfDrop).
func (q *nfqueue) verdict(id uint32, v uint32) error {
	hdr := binary.BigEndian.AppendUint32(nil, v)
	hdr = binary.BigEndian.AppendUint32(hdr, id)
	return q.request(nfqnlMsgVerdict, 0, attr(nfqaVerdictHdr, hdr))
}

// Close unbinds the queue: the kernel drops the packets still held.
func (q *nfqueue) Close() error { return q.f.Close() }
