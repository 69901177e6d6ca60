package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// syncBuffer is a bytes.Buffer safe for the supervisor's goroutine and the test.
// Each write wakes waitLines.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced on each write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

// waitLines returns the lines once cond holds of them: the supervisor
// logs a retry after it publishes the retry event, so the event alone
// does not mean the line is written.
func (s *syncBuffer) waitLines(t *testing.T, ctx context.Context, cond func([]map[string]any) bool) []map[string]any {
	t.Helper()
	for {
		s.mu.Lock()
		if s.written == nil {
			s.written = make(chan struct{})
		}
		ch := s.written
		s.mu.Unlock()
		if ls := s.lines(t); cond(ls) {
			return ls
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("log lines: %v", ctx.Err())
		}
	}
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue // nothing written yet
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("bad log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestErrorDetailReachesEventsSnapshotAndLog: a call that ends with
// serverConnectionFailed and the detail unauthorized (a refused token)
// keeps the name, and the detail rides along: on the connect-failed and
// retry events, in the snapshot (LastDetail), and as error_detail on both
// log lines (ERROR_DETAIL in the journal). A later failure without a
// detail clears it.
func TestErrorDetailReachesEventsSnapshotAndLog(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	var logs syncBuffer
	k := startFake(t, ctx, t.TempDir(), func(_ *session.Config, o *session.Options) {
		o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	c := k.d.Next(t, ctx)
	refused := errors.New("signalling: token refused: HTTP 401")
	c.End(dialect.Result{Err: contract.NewConnectErrorDetail(contract.ServerConnectionFailed, contract.DetailUnauthorized, refused)})
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	failed, _ := lastOf(evs, contract.EventConnectFailed)
	retry, _ := lastOf(evs, contract.EventRetry)
	if failed.ErrorName != contract.ServerConnectionFailed || failed.ErrorDetail != contract.DetailUnauthorized ||
		retry.ErrorName != contract.ServerConnectionFailed || retry.ErrorDetail != contract.DetailUnauthorized {
		t.Fatalf("want serverConnectionFailed (unauthorized) on the failure and the retry\n%s", sessiontest.Describe(evs))
	}
	if snap := k.sup.Snapshot(); snap.LastError != contract.ServerConnectionFailed || snap.LastDetail != contract.DetailUnauthorized {
		t.Fatalf("snapshot %+v, want LastError serverConnectionFailed, LastDetail unauthorized", snap)
	}
	var withDetail []string
	logs.waitLines(t, ctx, func(ls []map[string]any) bool {
		withDetail = withDetail[:0]
		for _, l := range ls {
			if l["error_detail"] == "unauthorized" && l["error_name"] == "serverConnectionFailed" {
				withDetail = append(withDetail, l["msg"].(string))
			}
		}
		return len(withDetail) >= 2
	})
	if len(withDetail) != 2 || withDetail[0] != "connect failed: serverConnectionFailed (unauthorized)" || withDetail[1] != "retrying" {
		t.Fatalf("log lines with error_detail=unauthorized: %q, want the failure and the retry", withDetail)
	}

	// The next attempt fails for another reason: the detail goes.
	k.clk.Advance(500 * time.Millisecond)
	c = k.d.Next(t, ctx)
	c.Fail(contract.NoScene, errors.New("busy"))
	k.rec.WaitFor(t, ctx, "a second retry", func(evs []contract.Event) bool { return countKind(evs, contract.EventRetry) >= 2 })
	if snap := k.sup.Snapshot(); snap.LastError != contract.NoScene || snap.LastDetail != contract.NoDetail {
		t.Fatalf("snapshot %+v, want noScene without a detail", snap)
	}
}

// TestClockDetailIsRetriedWithBackoff: a wrong clock (dpv1.ClockError,
// contract.DetailClock) stays serverConnectionFailed (eight names): the
// supervisor retries it with backoff like any failed dial, and the
// detail rides to the events and the snapshot until a failure without it.
func TestClockDetailIsRetriedWithBackoff(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	k := startFake(t, ctx, t.TempDir(), nil)
	c := k.d.Next(t, ctx)
	wrong := errors.New("the system clock is wrong (…); waiting for time sync")
	c.End(dialect.Result{Err: contract.NewConnectErrorDetail(contract.ServerConnectionFailed, contract.DetailClock, wrong)})
	evs := k.rec.WaitFor(t, ctx, "a retry", hasKind(contract.EventRetry))
	failed, _ := lastOf(evs, contract.EventConnectFailed)
	if failed.ErrorName != contract.ServerConnectionFailed || failed.ErrorDetail != contract.DetailClock {
		t.Fatalf("want serverConnectionFailed (clock)\n%s", sessiontest.Describe(evs))
	}
	if snap := k.sup.Snapshot(); snap.LastError != contract.ServerConnectionFailed || snap.LastDetail != contract.DetailClock {
		t.Fatalf("snapshot %+v", snap)
	}
	k.clk.Advance(time.Second)
	c = k.d.Next(t, ctx)
	c.Fail(contract.ServerConnectionFailed, errors.New("connection refused"))
	k.rec.WaitFor(t, ctx, "a second retry", func(evs []contract.Event) bool { return countKind(evs, contract.EventRetry) >= 2 })
	if snap := k.sup.Snapshot(); snap.LastDetail != contract.NoDetail {
		t.Fatalf("snapshot %+v keeps the old detail", snap)
	}
}

// TestPathRestartIsAnEventNotAState: a dialect's in-call repair of the
// media path (an ICE restart, LiveKit's resume) reaches subscribers as
// EventPathRestart with its result and time, in the current session and
// state; the call stays Connected and the supervisor writes no line of
// its own (the dialect logged it).
func TestPathRestartIsAnEventNotAState(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	var logs syncBuffer
	k := startFake(t, ctx, t.TempDir(), func(_ *session.Config, o *session.Options) {
		o.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	c := k.d.Next(t, ctx)
	c.Connect("sid-1", false)
	k.rec.WaitFor(t, ctx, "Connected", func(evs []contract.Event) bool {
		_, ok := lastOf(evs, contract.EventState)
		return ok && k.sup.Snapshot().State == contract.Connected
	})
	c.PathRestart(true, 40*time.Millisecond)
	c.PathRestart(false, 6*time.Second)
	evs := k.rec.WaitFor(t, ctx, "two path restarts", func(evs []contract.Event) bool { return countKind(evs, contract.EventPathRestart) == 2 })
	var got []contract.Event
	for _, e := range evs {
		if e.Kind == contract.EventPathRestart {
			got = append(got, e)
		}
	}
	if !got[0].Recovered || got[0].Took != 40*time.Millisecond || got[1].Recovered || got[1].Took != 6*time.Second {
		t.Fatalf("path restart events %+v, want recovered in 40ms, then failed after 6s", got)
	}
	for _, e := range got {
		if e.State != contract.Connected || e.SessionID != "sid-1" {
			t.Fatalf("path restart event in state %v session %q, want Connected sid-1", e.State, e.SessionID)
		}
	}
	if s := k.sup.Snapshot(); s.State != contract.Connected {
		t.Fatalf("state %v after the path restarts, want Connected", s.State)
	}
	for _, l := range logs.lines(t) {
		if m, _ := l["msg"].(string); strings.Contains(strings.ToLower(m), "restart") {
			t.Fatalf("the supervisor logged %q: the dialect logs path restarts", m)
		}
	}
}
