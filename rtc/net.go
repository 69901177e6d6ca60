package rtc

import (
	"sync/atomic"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// Net is the network pion's ICE agents gather on: the standard library's,
// with an interface list that Refresh renews. pion reads the host's
// interfaces once, when a PeerConnection is made, and an ICE restart
// gathers from that list again; after a network change (an address gone,
// a new one on another interface) it would gather the old addresses and
// never the new one. Refresh before an ICE restart makes it gather the
// network as it is (docs/BEHAVIOUR.md, network changes).
//
// Safe for concurrent use: every list is a snapshot of its own, swapped
// atomically, so an agent gathering while another call refreshes reads one
// list or the other.
type Net struct {
	transport.Net // the stateless rest (listen, dial, resolve): stdnet's
	cur           atomic.Pointer[stdnet.Net]
}

// NewNet reads the host's interfaces.
func NewNet() (*Net, error) {
	base, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	n := &Net{Net: base}
	n.cur.Store(base)
	return n, nil
}

// Refresh reads the host's interfaces again.
func (n *Net) Refresh() error {
	s, err := stdnet.NewNet()
	if err != nil {
		return err
	}
	n.cur.Store(s)
	return nil
}

// Interfaces returns the interfaces as of the last Refresh.
func (n *Net) Interfaces() ([]*transport.Interface, error) { return n.cur.Load().Interfaces() }

// InterfaceByIndex looks an interface up in the last list.
func (n *Net) InterfaceByIndex(index int) (*transport.Interface, error) {
	return n.cur.Load().InterfaceByIndex(index)
}

// InterfaceByName looks an interface up in the last list.
func (n *Net) InterfaceByName(name string) (*transport.Interface, error) {
	return n.cur.Load().InterfaceByName(name)
}
