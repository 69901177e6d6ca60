package netwatch

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Filter decides which rtnetlink messages are network changes (the policy
// of the package comment). It remembers each interface's name and
// whether it is loopback and running, from the link messages it has seen;
// a Watcher asks the kernel for all of them first. Not safe for
// concurrent use: one reader owns it.
type Filter struct {
	links map[int32]linkInfo
}

type linkInfo struct {
	name     string
	loopback bool
	running  bool
}

// NewFilter returns a filter that knows no interface yet.
func NewFilter() *Filter { return &Filter{links: map[int32]linkInfo{}} }

// Relevant returns why m is a network change ("" if it is not).
func (f *Filter) Relevant(m syscall.NetlinkMessage) string {
	switch m.Header.Type {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		return f.link(m)
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		return f.addr(m)
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		return f.route(m)
	}
	return ""
}

func attrs(m syscall.NetlinkMessage) map[uint16][]byte {
	out := map[uint16][]byte{}
	as, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return out
	}
	for _, a := range as {
		out[a.Attr.Type] = a.Value
	}
	return out
}

// Ignored says whether an interface's changes are not the kiosk's network.
func Ignored(name string) bool {
	for _, p := range IgnoredPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

func (f *Filter) link(m syscall.NetlinkMessage) string {
	if len(m.Data) < unix.SizeofIfInfomsg {
		return ""
	}
	ifi := (*unix.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
	name := strings.TrimRight(string(attrs(m)[unix.IFLA_IFNAME]), "\x00")
	now := linkInfo{name: name, loopback: ifi.Flags&unix.IFF_LOOPBACK != 0, running: ifi.Flags&unix.IFF_RUNNING != 0}
	old, known := f.links[ifi.Index]
	if m.Header.Type == unix.RTM_DELLINK {
		delete(f.links, ifi.Index)
		if known && old.running && !old.loopback && !Ignored(old.name) {
			return fmt.Sprintf("interface %s removed", old.name)
		}
		return ""
	}
	if name == "" && known {
		now.name = old.name
	}
	f.links[ifi.Index] = now
	switch {
	case !known, now.loopback, Ignored(now.name), old.running == now.running:
		// First sight (the dump, a new interface: its address will
		// count), or nothing that moves packets changed.
		return ""
	case now.running:
		return fmt.Sprintf("interface %s up", now.name)
	}
	return fmt.Sprintf("interface %s down", now.name)
}

func (f *Filter) name(index int32) (string, bool) {
	l, ok := f.links[index]
	if !ok {
		return fmt.Sprintf("#%d", index), false
	}
	return l.name, l.loopback || Ignored(l.name)
}

func (f *Filter) addr(m syscall.NetlinkMessage) string {
	if len(m.Data) < unix.SizeofIfAddrmsg {
		return ""
	}
	ifa := (*unix.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
	if ifa.Scope >= unix.RT_SCOPE_LINK { // link (fe80::) and host (127.0.0.1, ::1)
		return ""
	}
	a := attrs(m)
	raw := a[unix.IFA_LOCAL]
	if raw == nil {
		raw = a[unix.IFA_ADDRESS]
	}
	ip := net.IP(raw)
	if len(raw) != 4 && len(raw) != 16 || ip.IsLoopback() {
		return ""
	}
	name, ignored := f.name(int32(ifa.Index))
	if ignored {
		return ""
	}
	verb := "added"
	if m.Header.Type == unix.RTM_DELADDR {
		verb = "removed"
	}
	return fmt.Sprintf("address %s/%d %s on %s", ip, ifa.Prefixlen, verb, name)
}

func (f *Filter) route(m syscall.NetlinkMessage) string {
	if len(m.Data) < unix.SizeofRtMsg {
		return ""
	}
	rt := (*unix.RtMsg)(unsafe.Pointer(&m.Data[0]))
	if rt.Dst_len != 0 || rt.Table != unix.RT_TABLE_MAIN || rt.Type != unix.RTN_UNICAST {
		return ""
	}
	a := attrs(m)
	dev := ""
	if oif := a[unix.RTA_OIF]; len(oif) == 4 {
		name, ignored := f.name(int32(binary.NativeEndian.Uint32(oif)))
		if ignored {
			return ""
		}
		dev = " dev " + name
	}
	via := ""
	if gw := a[unix.RTA_GATEWAY]; len(gw) == 4 || len(gw) == 16 {
		via = " via " + net.IP(gw).String()
	}
	verb := "added"
	if m.Header.Type == unix.RTM_DELROUTE {
		verb = "removed"
	}
	return fmt.Sprintf("default route%s%s %s", via, dev, verb)
}
