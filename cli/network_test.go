package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
)

// TestStatusNetworkRow: a Connected kioskd's status shows congestion
// control's Network row: an estimate from the server's transport-cc
// feedback (dpsim's default), or, with a server that declines it
// (dpsim --no-twcc), no estimate and the fixed 500 kbit/s.
func TestStatusNetworkRow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noTWCC bool
		want   func(row string) bool
	}{
		{"feedback", false, func(row string) bool {
			return strings.Contains(row, "estimate ") && !strings.Contains(row, "estimate none") && strings.Contains(row, " kbit/s, video ")
		}},
		{"no feedback", true, func(row string) bool {
			return strings.Contains(row, "estimate none (the server sends no transport-cc feedback), video 500 kbit/s,")
		}},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario(), NoTWCC: tc.noTWCC})
			lab := writeLab(t, dp, "")
			p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p.waitRecords(t, ctx, "Connected", nConnected(1))
			// The call hands its first rate half a second after its offer.
			var row string
			for ctx.Err() == nil {
				var out, errOut bytes.Buffer
				Main([]string{"status", "--socket", lab.socket}, &out, &errOut)
				if i := strings.Index(out.String(), "Network:"); i >= 0 {
					row, _, _ = strings.Cut(out.String()[i:], "\n")
					if tc.want(row) {
						return
					}
				}
				time.Sleep(50 * time.Millisecond) // the status is polled: it announces no rate
			}
			t.Fatalf("status Network row %q", row)
		})
	}
}
