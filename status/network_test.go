package status

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kioskd/kioskd/contract"
)

var thinLink = Network{EstimateBPS: 131_400, VideoBPS: 67_500, MaxFPS: 5, RTTSeconds: 0.012, Loss: 0.031}

// TestNetworkRow: the one-shot status of a Connected kiosk carries the
// call's congestion control figures and `kioskd status` shows them as the
// Network row; not before Connected, not to watchers.
func TestNetworkRow(t *testing.T) {
	fs := &fakeSession{snap: contract.Snapshot{State: contract.ConnectingToDigitalPerson}}
	path := socketPath(t)
	startServer(t, path, ServerOptions{Snapshot: fs.Snapshot, PollInterval: -1,
		Network: func() *Network { n := thinLink; return &n }})
	st, err := Query(context.Background(), path)
	if err != nil || st.Network != nil {
		t.Fatalf("before Connected: %+v, %v; want no network figures", st.Network, err)
	}
	fs.set(func(s *contract.Snapshot) { s.State = contract.Connected })
	st, err = Query(context.Background(), path)
	if err != nil || st.Network == nil || *st.Network != thinLink {
		t.Fatalf("Connected: %+v, %v; want %+v", st.Network, err, thinLink)
	}
	text := FormatText(st, time.Now())
	want := "Network:     estimate 131 kbit/s, video 67 kbit/s at ≤5 fps, RTT 12 ms, loss 3.1 %\n"
	if !strings.Contains(text, want) {
		t.Fatalf("status text lacks %q:\n%s", want, text)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := watchInto(t, ctx, path)
	if w := next(t, ch); w.Network != nil {
		t.Fatalf("a watcher got network figures %+v", w.Network)
	}
}

// TestNetworkMetrics: the gauges carry the figures under their names.
func TestNetworkMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewNetworkMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Set(thinLink)
	for name, want := range map[string]float64{
		"kioskd_bandwidth_estimate_bps": 131_400, "kioskd_video_target_bitrate_bps": 67_500,
		"kioskd_rtt_seconds": 0.012, "kioskd_packet_loss_ratio": 0.031,
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == name {
				found = true
				if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("no %s", name)
		}
	}
	if _, err := NewNetworkMetrics(reg); err == nil {
		t.Fatal("registering the gauges twice succeeded")
	}
}

// TestNetworkNoEstimate: a server without transport-cc feedback leaves no
// estimate, and the row says so rather than "0 kbit/s"; an RTT not
// measured yet is "unknown", one below 10 ms has a decimal (a LAN's).
func TestNetworkNoEstimate(t *testing.T) {
	if got := (Network{RTTSeconds: 0.000315}).String(); !strings.Contains(got, "RTT 0.3 ms") {
		t.Fatalf("row %q, want RTT 0.3 ms", got)
	}
	got := Network{VideoBPS: 500_000}.String()
	if want := "estimate none (the server sends no transport-cc feedback), video 500 kbit/s, RTT unknown, loss 0.0 %"; got != want {
		t.Fatalf("row %q, want %q", got, want)
	}
}
