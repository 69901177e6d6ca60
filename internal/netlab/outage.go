package netlab

import "fmt"

// Cut drops every packet in and out of dev (a total outage: a cable
// pulled somewhere past the kiosk's own interface, which stays up) until
// Restore.
func (ns *NS) Cut(dev string) {
	ns.Nft(fmt.Sprintf(`table inet netlab_cut_%s {
	chain in { type filter hook input priority -10; iifname %q drop; }
	chain out { type filter hook output priority -10; oifname %q drop; }
}
`, dev, dev, dev))
}

// Restore ends Cut's outage of dev.
func (ns *NS) Restore(dev string) {
	ns.lab.tb.Helper()
	ns.MustRun("nft", "delete", "table", "inet", "netlab_cut_"+dev)
}
