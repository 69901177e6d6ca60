package daemon

import (
	"context"

	"github.com/kioskd/kioskd/netwatch"
)

// NetworkChanger is a dialect that can move a live call to a changed
// network without a new session (dialect/dpv1: an ICE restart over the
// signalling channel, docs/PROTOCOL.md section 4.12; dialect/livekit:
// LiveKit's in-call resume with an ICE restart, docs/LIVEKIT.md). A
// dialect without it sees a network change as the lost connection it may
// become.
type NetworkChanger interface {
	NetworkChanged(why string)
}

// watchNetwork hands the host's network changes (netwatch: addresses,
// default routes, interfaces up or down; debounced) to the dialect
// (docs/BEHAVIOUR.md, network changes). Without netlink (a sandbox that
// refuses AF_NETLINK) it logs why and the kiosk goes on: a change is then
// found by ICE's consent checks, as an outage.
func (d *Daemon) watchNetwork(g *group) {
	nc, ok := d.dia.(NetworkChanger)
	if !ok {
		return
	}
	// The wall clock, not opts.Clock: the debounce is about the kernel's
	// real time, whatever clock drives the session.
	w, err := netwatch.New(netwatch.Config{Log: d.opts.Log})
	if err != nil {
		d.opts.Log.Warn("network changes are not watched; a changed network is noticed as an outage", "error", err)
		return
	}
	g.onStop(func() { _ = w.Close() })
	g.spawn(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-w.Changes():
				d.opts.Log.Info("network changed", "change", c.String(), "events", c.Events)
				nc.NetworkChanged(c.String())
			}
		}
	})
}
