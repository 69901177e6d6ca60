//go:build linux

package logging

import (
	"github.com/kioskd/kioskd/contract"

	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testToken = "tok-3xAMPLE-s3cr3t-Zq9"

// fakeJournal is journald's native socket at a test path. It keeps every
// raw datagram (and memfd content) so tests can check that no secret leaks.
type fakeJournal struct {
	t    *testing.T
	path string
	conn *net.UnixConn
	raw  [][]byte
}

func newFakeJournal(t *testing.T) *fakeJournal {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &fakeJournal{t: t, path: path, conn: conn}
}

type entry struct {
	fields map[string][]string
	memfd  bool
	sealed bool
}

func (e entry) get(name string) string {
	if v := e.fields[name]; len(v) == 1 {
		return v[0]
	} else if len(v) > 1 {
		return fmt.Sprintf("<%d values: %q>", len(v), v)
	}
	return "<missing>"
}

// next reads the next entry. The handler's send has already queued it when
// the log call returns; the deadline only turns a hang into a failure.
func (j *fakeJournal) next() entry {
	j.t.Helper()
	buf := make([]byte, 1<<20)
	oob := make([]byte, unix.CmsgSpace(4*4))
	j.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, oobn, _, _, err := j.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		j.t.Fatalf("no journal entry: %v", err)
	}
	data := buf[:n]
	var e entry
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			j.t.Fatalf("control message: %v (%d)", err, len(msgs))
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			j.t.Fatalf("rights: %v %v", err, fds)
		}
		if n != 0 {
			j.t.Fatalf("memfd datagram carries %d bytes of payload too", n)
		}
		f := os.NewFile(uintptr(fds[0]), "memfd")
		defer f.Close()
		seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
		if err != nil {
			j.t.Fatalf("F_GET_SEALS: %v (not a memfd?)", err)
		}
		want := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_SEAL
		e.sealed = seals&want == want
		fi, _ := f.Stat()
		data = make([]byte, fi.Size())
		if _, err := f.ReadAt(data, 0); err != nil {
			j.t.Fatalf("read memfd: %v", err)
		}
		e.memfd = true
	}
	j.raw = append(j.raw, append([]byte(nil), data...))
	e.fields = parseNative(j.t, data)
	return e
}

// parseNative parses journald's native protocol, both field forms.
func parseNative(t *testing.T, b []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		if nl < 0 {
			t.Fatalf("field without newline: %q", b)
		}
		line := b[:nl]
		if eq := bytes.IndexByte(line, '='); eq >= 0 {
			name := string(line[:eq])
			checkName(t, name)
			out[name] = append(out[name], string(line[eq+1:]))
			b = b[nl+1:]
			continue
		}
		name := string(line)
		checkName(t, name)
		b = b[nl+1:]
		if len(b) < 8 {
			t.Fatalf("binary field %s: no length", name)
		}
		size := binary.LittleEndian.Uint64(b[:8])
		b = b[8:]
		if uint64(len(b)) < size+1 || b[size] != '\n' {
			t.Fatalf("binary field %s: bad length %d", name, size)
		}
		out[name] = append(out[name], string(b[:size]))
		b = b[size+1:]
	}
	return out
}

func checkName(t *testing.T, name string) {
	t.Helper()
	if name == "" || len(name) > 64 || name[0] == '_' || name[0] >= '0' && name[0] <= '9' {
		t.Fatalf("invalid journal field name %q", name)
	}
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			t.Fatalf("invalid journal field name %q", name)
		}
	}
}

func (j *fakeJournal) assertNoSecret(secret string) {
	j.t.Helper()
	for i, d := range j.raw {
		if bytes.Contains(d, []byte(secret)) {
			j.t.Fatalf("datagram %d contains the secret: %q", i, d)
		}
	}
}

func newJournalLogger(t *testing.T, j *fakeJournal, opts Options) (*slog.Logger, *SessionTracker) {
	t.Helper()
	opts.JournalSocket = j.path
	log, tr, err := New(FormatJournal, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return log, tr
}

func TestJournalFields(t *testing.T) {
	j := newFakeJournal(t)
	log, tr := newJournalLogger(t, j, Options{AddSource: true})
	tr.Set("3f2a9c1e-7b7d")

	log.Info("connection state Connected", State(contract.Connected), ErrorName(contract.NoScene),
		DisconnectReason(contract.ReasonControlDisconnected), slog.Int("queue_position", 2))
	e := j.next()
	want := map[string]string{
		"MESSAGE":           "connection state Connected",
		"PRIORITY":          "6",
		"SYSLOG_IDENTIFIER": "kioskd",
		"SESSION_ID":        "3f2a9c1e-7b7d",
		"CONNECTION_STATE":  "Connected",
		"CURRENT_STEP":      "4",
		"PERCENTAGE_LOADED": "100",
		"ERROR_NAME":        "noScene",
		"DISCONNECT_REASON": "controlDisconnected",
		"QUEUE_POSITION":    "2",
	}
	for k, v := range want {
		if got := e.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasSuffix(e.get("CODE_FILE"), "journal_linux_test.go") || e.get("CODE_LINE") == "<missing>" ||
		!strings.HasSuffix(e.get("CODE_FUNC"), "TestJournalFields") {
		t.Errorf("CODE_* = %q:%q %q", e.get("CODE_FILE"), e.get("CODE_LINE"), e.get("CODE_FUNC"))
	}
	var extra []string
	for k := range e.fields {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "CODE_") {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		t.Errorf("unexpected fields %v", extra)
	}
}

func TestJournalPriorityAndLevel(t *testing.T) {
	j := newFakeJournal(t)
	log, _ := newJournalLogger(t, j, Options{})
	// Debug is below the default level: the warn line must be the first entry.
	log.Debug("hidden")
	log.Warn("w")
	log.Error("e")
	log.Log(context.Background(), slog.LevelError+4, "crit")
	for _, want := range []struct{ msg, pri string }{{"w", "4"}, {"e", "3"}, {"crit", "2"}} {
		e := j.next()
		if e.get("MESSAGE") != want.msg || e.get("PRIORITY") != want.pri {
			t.Errorf("got %q/%q, want %q/%q", e.get("MESSAGE"), e.get("PRIORITY"), want.msg, want.pri)
		}
	}
	for l, p := range map[slog.Level]int{slog.LevelDebug: 7, slog.LevelInfo: 6, slog.LevelInfo + 2: 6, slog.LevelWarn: 4, slog.LevelError: 3, slog.LevelError + 8: 2} {
		if got := Priority(l); got != p {
			t.Errorf("Priority(%v) = %d, want %d", l, got, p)
		}
	}
}

func TestJournalMultilineUsesBinaryForm(t *testing.T) {
	j := newFakeJournal(t)
	log, _ := newJournalLogger(t, j, Options{})
	log.Warn("first line\nsecond line", "detail", "a=b\nc", "plain", "x=y")
	e := j.next()
	if e.get("MESSAGE") != "first line\nsecond line" || e.get("DETAIL") != "a=b\nc" || e.get("PLAIN") != "x=y" {
		t.Fatalf("fields = %q", e.fields)
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len("first line\nsecond line")))
	if !bytes.Contains(j.raw[0], append([]byte("MESSAGE\n"), lenBuf[:]...)) {
		t.Fatalf("MESSAGE is not in the binary form: %q", j.raw[0])
	}
}

func TestJournalFieldNames(t *testing.T) {
	j := newFakeJournal(t)
	log, tr := newJournalLogger(t, j, Options{})
	tr.Set("sid-1")
	log.With("component", "leds").WithGroup("webrtc").Info("grouped",
		"ice_state", "failed", "frames-sent", 12, "9lives", 1, "_hidden", 2, "sessionID", "own",
		slog.Group("track", "kind", "video"), "message", "forged", "priority", 0, "näive", true)
	e := j.next()
	want := map[string]string{
		"MESSAGE":            "grouped",
		"PRIORITY":           "6",
		"SESSION_ID":         "sid-1", // top level despite WithGroup
		"COMPONENT":          "leds",
		"WEBRTC_ICE_STATE":   "failed",
		"WEBRTC_FRAMES_SENT": "12",
		"WEBRTC_9LIVES":      "1",
		"WEBRTC__HIDDEN":     "2",
		"WEBRTC_SESSION_ID":  "own",
		"WEBRTC_TRACK_KIND":  "video",
		"WEBRTC_MESSAGE":     "forged",
		"WEBRTC_PRIORITY":    "0",
		"WEBRTC_N_IVE":       "true", // non-ASCII becomes _
	}
	for k, v := range want {
		if got := e.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	// Top level: reserved names cannot be forged, leading _ and digits are fixed.
	log.Info("top", "message", "forged", "_PID", "1", "9lives", 1, "syslog_identifier", "evil")
	e = j.next()
	if e.get("MESSAGE") != "top" || e.get("ATTR_MESSAGE") != "forged" || e.get("PID") != "1" ||
		e.get("X_9LIVES") != "1" || e.get("SYSLOG_IDENTIFIER") != "kioskd" || e.get("ATTR_SYSLOG_IDENTIFIER") != "evil" {
		t.Errorf("fields = %q", e.fields)
	}
}

type creds struct {
	User  string
	Token string
}

func TestJournalNeverCarriesTheToken(t *testing.T) {
	j := newFakeJournal(t)
	log, tr := newJournalLogger(t, j, Options{Secrets: []string{testToken}})
	tr.Set("sid")

	log.Info("dial wss://dp.example.com/v1/session?token="+testToken,
		"url", "wss://dp.example.com/v1/session?token="+testToken,
		"token", testToken,
		"authorization", "Bearer "+testToken,
		"api_key", "something else",
		"token_file", "/etc/kioskd/token",
		"error", fmt.Errorf("upgrade failed: header Authorization: Bearer %s: %w", testToken, errors.New("401")),
		slog.Group("server", "hdr", "Bearer "+testToken, slog.Group("auth", "user", "kiosk")),
		"creds", creds{User: "kiosk", Token: testToken},
		"bytes", []byte("x"+testToken),
		"multi", "line1\n"+testToken,
	)
	e := j.next()
	j.assertNoSecret(testToken)
	want := map[string]string{
		"MESSAGE":       "dial wss://dp.example.com/v1/session",
		"URL":           "wss://dp.example.com/v1/session",
		"TOKEN":         "[REDACTED]",
		"AUTHORIZATION": "[REDACTED]",
		"API_KEY":       "[REDACTED]",
		"TOKEN_FILE":    "/etc/kioskd/token",
		"ERROR":         "upgrade failed: header Authorization: Bearer [REDACTED]: 401",
		"SERVER_HDR":    "Bearer [REDACTED]",
		"SERVER_AUTH":   "[REDACTED]",
		"CREDS":         "{User:kiosk Token:[REDACTED]}",
		"BYTES":         "x[REDACTED]",
		"MULTI":         "line1\n[REDACTED]",
		"SESSION_ID":    "sid",
	}
	for k, v := range want {
		if got := e.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	// Attributes attached earlier (With) and a huge entry (memfd) too.
	log.With("bearer", testToken, "note", "k="+testToken).Error("big", "blob", strings.Repeat("x", 2<<20)+testToken)
	e = j.next()
	j.assertNoSecret(testToken)
	if e.get("BEARER") != Redacted || e.get("NOTE") != "k=[REDACTED]" {
		t.Errorf("With attrs not redacted: %q %q", e.get("BEARER"), e.get("NOTE"))
	}
}

func TestJournalLargeEntryUsesSealedMemfd(t *testing.T) {
	j := newFakeJournal(t)
	log, tr := newJournalLogger(t, j, Options{})
	tr.Set("sid-big")
	blob := strings.Repeat("0123456789abcdef", (4<<20)/16) // far above any datagram limit
	log.Info("large", "blob", blob, "tail", "end")
	e := j.next()
	if !e.memfd {
		t.Fatal("a 4 MiB entry was not sent in a memfd")
	}
	if !e.sealed {
		t.Error("memfd is not sealed; journald rejects it")
	}
	if e.get("BLOB") != blob || e.get("TAIL") != "end" || e.get("SESSION_ID") != "sid-big" || e.get("MESSAGE") != "large" {
		t.Errorf("memfd entry lost fields: MESSAGE=%q TAIL=%q SESSION_ID=%q len(BLOB)=%d",
			e.get("MESSAGE"), e.get("TAIL"), e.get("SESSION_ID"), len(e.get("BLOB")))
	}
	// The next small entry goes the normal way again.
	log.Info("small")
	if e := j.next(); e.memfd || e.get("MESSAGE") != "small" {
		t.Errorf("small entry after a large one: memfd=%v %q", e.memfd, e.get("MESSAGE"))
	}
}

func TestJournalTruncatedEntry(t *testing.T) {
	j := newFakeJournal(t)
	h, err := NewJournalHandler(JournalConfig{Socket: j.path})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// The last resort when neither a datagram nor a memfd can carry the
	// entry: long values cut, and the entry says so.
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	r.AddAttrs(slog.String("blob", strings.Repeat("y", 1<<20)))
	if err := h.w.send(h.entry(r, truncateAt)); err != nil {
		t.Fatal(err)
	}
	e := j.next()
	if e.get("TRUNCATED") != "1" || len(e.get("BLOB")) > truncateAt+64 || !strings.Contains(e.get("BLOB"), "[truncated, 1048576 bytes]") {
		t.Errorf("truncated entry: TRUNCATED=%q len(BLOB)=%d", e.get("TRUNCATED"), len(e.get("BLOB")))
	}
}

func TestNewJournalErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.sock")
	if _, _, err := New(FormatJournal, nil, Options{JournalSocket: missing}); !errors.Is(err, ErrNoJournal) {
		t.Errorf("missing socket: %v", err)
	}
	notSock := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSock, nil, 0o600)
	if _, _, err := New(FormatJournal, nil, Options{JournalSocket: notSock}); !errors.Is(err, ErrNoJournal) {
		t.Errorf("not a socket: %v", err)
	}
	if _, _, err := New("xml", nil, Options{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

// setJournalStream points JOURNAL_STREAM at f's device and inode.
func setJournalStream(t *testing.T, f *os.File) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
}

func TestAutoSelection(t *testing.T) {
	j := newFakeJournal(t)
	dir := t.TempDir()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	other, _ := os.Create(filepath.Join(dir, "other"))
	defer other.Close()

	logAuto := func(w *os.File, socket string, msg string) {
		t.Helper()
		log, _, err := New(FormatAuto, w, Options{JournalSocket: socket})
		if err != nil {
			t.Fatal(err)
		}
		log.Info(msg)
	}
	fileHas := func(msg string) bool {
		b, _ := os.ReadFile(stderr.Name())
		return bytes.Contains(b, []byte("msg="+msg))
	}

	// JOURNAL_STREAM matches stderr: journal.
	setJournalStream(t, stderr)
	if !IsJournalStream(stderr) || IsJournalStream(other) || IsJournalStream(&bytes.Buffer{}) {
		t.Fatal("IsJournalStream does not compare device and inode")
	}
	logAuto(stderr, j.path, "to-journal")
	if e := j.next(); e.get("MESSAGE") != "to-journal" {
		t.Fatalf("auto with matching JOURNAL_STREAM: %q", e.fields)
	}
	if fileHas("to-journal") {
		t.Fatal("auto wrote text as well as the journal")
	}

	// Matching stream but no journal socket: text, not an error.
	logAuto(stderr, filepath.Join(dir, "missing.sock"), "no-socket")
	if !fileHas("no-socket") {
		t.Fatal("auto without a journal socket did not fall back to text")
	}

	// JOURNAL_STREAM of another file (e.g. inherited from a parent): text.
	setJournalStream(t, other)
	logAuto(stderr, j.path, "mismatch")
	if !fileHas("mismatch") {
		t.Fatal("auto with a non-matching JOURNAL_STREAM did not pick text")
	}

	// No JOURNAL_STREAM, or garbage: text.
	t.Setenv("JOURNAL_STREAM", "garbage")
	logAuto(stderr, j.path, "garbage")
	os.Unsetenv("JOURNAL_STREAM")
	logAuto(stderr, j.path, "unset")
	if !fileHas("garbage") || !fileHas("unset") {
		t.Fatal("auto without JOURNAL_STREAM did not pick text")
	}
	// None of the text cases reached the journal: a marker sent now is the next entry.
	log, _, _ := New(FormatJournal, nil, Options{JournalSocket: j.path})
	log.Info("marker")
	if e := j.next(); e.get("MESSAGE") != "marker" {
		t.Fatalf("a text-mode line reached the journal: %q", e.fields)
	}
}

// The same line as TestRedactionJSONAndText, in the third format.
func TestRedactionJournal(t *testing.T) {
	j := newFakeJournal(t)
	log, tr := newJournalLogger(t, j, Options{Secrets: []string{secretToken, base64Key}})
	tr.Set("sid")
	logSecrets(log)
	e := j.next()
	j.assertNoSecret(secretToken)
	j.assertNoSecret("hunter2")
	for k, v := range map[string]string{
		"MESSAGE": "connect to wss://dp/ failed", "TOKEN": Redacted, "AUTHORIZATION": Redacted,
		"PASSWORD": Redacted, "ERR": "wrap: bad [REDACTED]", "VALUER": "v=[REDACTED]", "STRINGER": "S([REDACTED])",
		"PRESET": "p=[REDACTED]", "ESCAPED": "wss://dp/", "URL": "wss://dp/", "MAP": "map[t:[REDACTED]]",
		"SERVER_HDR": "Bearer [REDACTED]", "SERVER_CREDENTIALS": Redacted, "SESSION_ID": "sid",
	} {
		if got := e.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}
