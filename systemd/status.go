package systemd

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"fmt"
	"strings"
)

// maxIDLen bounds the session id in STATUS=; a real id is far shorter.
const maxIDLen = 64

// StatusLine renders a snapshot for STATUS= (`systemctl status kioskd`):
//
//	Connected (4/5, 100%) session 3f2a9c1e-…
//	SearchingForDigitalPerson (1/5, 25%) queue 3
//	Disconnected (0/5, 0%) retrying after noScene (attempt 2)
//	Disconnected (0/5, 0%) after controlDisconnected session 3f2a9c1e-…
//
// It is one line. The session id is not a secret and is shown in full.
func StatusLine(s contract.Snapshot) string {
	d := s.State.Data()
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d/%d, %d%%)", d.Name, d.CurrentStep, d.TotalSteps, d.PercentageLoaded)
	if s.State == contract.SearchingForDigitalPerson && s.QueuePosition > 0 {
		fmt.Fprintf(&b, " queue %d", s.QueuePosition)
	}
	if s.State != contract.Connected {
		switch {
		case !s.NextRetry.IsZero() && s.LastError != contract.NoError:
			fmt.Fprintf(&b, " retrying after %s (attempt %d)", contract.DescribeError(s.LastError, s.LastDetail), s.Attempt)
		case !s.NextRetry.IsZero():
			fmt.Fprintf(&b, " retrying (attempt %d)", s.Attempt)
		case s.State == contract.Disconnected && s.LastReason != contract.NoReason:
			fmt.Fprintf(&b, " after %s", s.LastReason)
		case s.State == contract.Disconnected && s.LastError != contract.NoError:
			fmt.Fprintf(&b, " after %s", contract.DescribeError(s.LastError, s.LastDetail))
		}
	}
	if id := cleanID(s.SessionID); id != "" {
		b.WriteString(" session ")
		b.WriteString(id)
	}
	return b.String()
}

func cleanID(id string) string {
	id = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, id)
	if r := []rune(id); len(r) > maxIDLen {
		id = string(r[:maxIDLen]) + "…"
	}
	return id
}

// ReportStatus keeps STATUS= up to date: on each event it renders
// StatusLine(snapshot()) and sends it when the line changed (an event that
// leaves the line as it was sends nothing). It returns when events is
// closed or ctx is done. Give it its own Bus subscription; outside systemd it only
// reads the events.
func ReportStatus(ctx context.Context, events <-chan contract.Event, snapshot func() contract.Snapshot) {
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
			if line := StatusLine(snapshot()); line != last {
				last = line
				Status(line)
			}
		}
	}
}
