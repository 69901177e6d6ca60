package netlab

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// EnvCapture names a directory: when set, a lab test that calls Capture
// writes its pcap files there (for diagnosis, read with tcpdump -r).
const EnvCapture = "KIOSKD_NETLAB_PCAP"

// Capture records, with tcpdump, what leaves dev before its qdisc (the
// load the namespace's processes offer the link, after Loss's drops:
// nftables log group 7, read on nflog:7) into dir/<name>-offered.pcap,
// and what the link carries both ways after it into dir/<name>-wire.pcap
// (headers and the first bytes of payload). Both stop with the lab.
// The nflog capture may miss packets under load (it kept a tenth of
// them in the thin-uplink scenario); the device capture keeps all.
// It is a diagnostic: a test calls it only when EnvCapture is set.
func (ns *NS) Capture(dev, dir, name string) {
	ns.lab.tb.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		ns.lab.tb.Fatalf("netlab: capture: %v", err)
	}
	ns.Nft(fmt.Sprintf(`table inet netlab_capture_%s {
	chain out { type filter hook output priority 10; oifname %q log group 7; }
}
`, dev, dev))
	for _, c := range [][]string{
		{"-i", "nflog:7", "-w", filepath.Join(dir, name+"-offered.pcap")},
		{"-i", dev, "-w", filepath.Join(dir, name+"-wire.pcap")},
	} {
		cmd := ns.Command("tcpdump", append([]string{"-n", "-s", "256", "-U"}, c...)...)
		if err := cmd.Start(); err != nil {
			ns.lab.tb.Fatalf("netlab: capture: %v", err)
		}
		ns.lab.tb.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	time.Sleep(500 * time.Millisecond) // tcpdump opens its sockets; a diagnostic, not a synchronisation
}
