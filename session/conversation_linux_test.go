//go:build linux

package session_test

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/logging"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// journal is journald's native socket at a test path, for the production
// logger (logging.FormatJournal).
type journal struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newJournal(t *testing.T) *journal {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &journal{t: t, path: path, conn: conn}
}

// until reads entries up to and including the first that stop accepts,
// and returns those whose MESSAGE starts with "conversation state". The
// supervisor logs each event as it publishes it, in order, so the entry of
// an event the test has seen comes; the deadline only turns a hang into a
// failure.
func (j *journal) until(stop func(map[string]string) bool) []map[string]string {
	j.t.Helper()
	var out []map[string]string
	buf := make([]byte, 1<<16)
	for {
		_ = j.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := j.conn.Read(buf)
		if err != nil {
			j.t.Fatalf("journal: %v (conversation lines so far %v)", err, out)
		}
		e := map[string]string{}
		for _, l := range strings.Split(string(buf[:n]), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				e[k] = v
			}
		}
		if strings.HasPrefix(e["MESSAGE"], "conversation state") {
			out = append(out, e)
		}
		if stop(e) {
			return out
		}
	}
}

func field(k, v string) func(map[string]string) bool {
	return func(e map[string]string) bool { return e[k] == v }
}

func conversations(evs []contract.Event) []string {
	var s []string
	for _, e := range evs {
		if e.Kind == contract.EventConversation {
			s = append(s, e.Conversation.String())
		}
	}
	return s
}

// What the dialect reports of the DP's conversation is an event beside
// the connection state (once per change), in the snapshot, and a journal
// line with CONVERSATION_STATE and SESSION_ID written by the production
// journald logger; the end of the call puts it back to none. A call whose
// DP publishes no state gives no such event or line.
func TestConversationState(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	j := newJournal(t)
	log, tr, err := logging.New(logging.FormatJournal, nil, logging.Options{JournalSocket: j.path})
	if err != nil {
		t.Fatal(err)
	}
	k := startFake(t, ctx, t.TempDir(), func(_ *session.Config, o *session.Options) {
		o.Log, o.OnSessionID = log, tr.Set
	})
	c := k.d.Next(t, ctx)
	c.Connect("room-1", false)
	k.rec.WaitFor(t, ctx, "Connected", nthConnected(1))
	for _, st := range []contract.ConversationState{contract.ConversationListening, contract.ConversationListening, contract.ConversationThinking, contract.ConversationSpeaking} {
		c.Conversation(st)
	}
	evs := k.rec.WaitFor(t, ctx, "speaking", func(evs []contract.Event) bool { return len(conversations(evs)) == 3 })
	if got := strings.Join(conversations(evs), " "); got != "listening thinking speaking" {
		t.Fatalf("conversation events %s, want listening thinking speaking (once per change)\n%s", got, sessiontest.Describe(evs))
	}
	if s := k.sup.Snapshot(); s.Conversation != contract.ConversationSpeaking || s.State != contract.Connected {
		t.Fatalf("snapshot %v %v, want Connected and speaking", s.State, s.Conversation)
	}
	last := evs[len(evs)-1]
	if last.State != contract.Connected || last.SessionID != "room-1" {
		t.Fatalf("conversation event of state %v session %q", last.State, last.SessionID)
	}
	lines := j.until(field("CONVERSATION_STATE", "speaking"))
	var got []string
	for _, e := range lines {
		if e["SESSION_ID"] != "room-1" {
			t.Errorf("line %q: SESSION_ID %q, want room-1", e["MESSAGE"], e["SESSION_ID"])
		}
		got = append(got, e["CONVERSATION_STATE"])
	}
	if strings.Join(got, " ") != "listening thinking speaking" {
		t.Fatalf("journal CONVERSATION_STATE %v, want listening thinking speaking", got)
	}

	// The call ends: back to none, before Disconnected.
	c.Disconnect(contract.ReasonConversationEnded)
	c2 := k.d.Next(t, ctx)
	evs = k.rec.WaitFor(t, ctx, "none", func(evs []contract.Event) bool { return len(conversations(evs)) == 4 })
	if got := conversations(evs)[3]; got != "none" {
		t.Fatalf("after the call: %s, want none", got)
	}
	if lines := j.until(field("CONVERSATION_STATE", "none")); len(lines) != 1 || lines[0]["CONVERSATION_STATE"] != "none" {
		t.Fatalf("journal after the call: %v, want one line with CONVERSATION_STATE none", lines)
	}
	// A DP that publishes nothing: Connected without a conversation line.
	c2.Connect("room-2", false)
	evs = k.rec.WaitFor(t, ctx, "Connected again", nthConnected(2))
	if n := len(conversations(evs)); n != 4 {
		t.Fatalf("%d conversation events, want none more\n%s", n, sessiontest.Describe(evs))
	}
	if s := k.sup.Snapshot(); s.Conversation != contract.ConversationNone {
		t.Fatalf("snapshot %v, want none", s.Conversation)
	}
	if lines := j.until(field("MESSAGE", "connection state Connected")); len(lines) != 0 {
		t.Fatalf("conversation lines without a conversation state: %v", lines)
	}
}
