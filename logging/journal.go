package logging

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// JournalConfig configures a JournalHandler.
type JournalConfig struct {
	// Socket is journald's native socket; "" means DefaultJournalSocket.
	Socket string
	// Identifier is SYSLOG_IDENTIFIER; "" means DefaultIdentifier.
	Identifier string
	// Level is the minimum level; nil means slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds CODE_FILE, CODE_LINE and CODE_FUNC.
	AddSource bool
}

// JournalHandler is a slog.Handler that writes journald's native protocol
// (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/) to a unixgram socket.
//
// Attribute keys become journal fields: lower snake case upper-cased
// (session_id → SESSION_ID, sessionID → SESSION_ID), groups joined with _
// (media.frames → MEDIA_FRAMES), any other character _, never starting
// with _ or a digit, at most 64 bytes. MESSAGE, PRIORITY (from the level)
// and SYSLOG_IDENTIFIER are always set. A value with a line break uses the
// binary length-prefixed form. An entry too large for one datagram goes in
// a sealed memfd passed with SCM_RIGHTS, as sd_journal_send does; if that
// fails too, long values are cut and the entry says so (TRUNCATED=1).
type JournalHandler struct {
	w      *journalWriter
	ident  string
	level  slog.Leveler
	source bool
	prefix string // group prefix, e.g. "MEDIA_"
	pre    []byte // fields from WithAttrs, already encoded
}

type journalWriter struct {
	conn *net.UnixConn
	addr *net.UnixAddr
}

// NewJournalHandler returns a handler writing to cfg.Socket. It fails with
// ErrNoJournal if the socket does not exist.
func NewJournalHandler(cfg JournalConfig) (*JournalHandler, error) {
	if cfg.Socket == "" {
		cfg.Socket = DefaultJournalSocket
	}
	if cfg.Identifier == "" {
		cfg.Identifier = DefaultIdentifier
	}
	if cfg.Level == nil {
		cfg.Level = slog.LevelInfo
	}
	fi, err := os.Stat(cfg.Socket)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoJournal, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return nil, fmt.Errorf("%w: %s is not a socket", ErrNoJournal, cfg.Socket)
	}
	// An unconnected socket, one sendmsg per entry like sd_journal: it keeps
	// working when journald restarts and recreates its socket.
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoJournal, err)
	}
	return &JournalHandler{
		w:      &journalWriter{conn: conn, addr: &net.UnixAddr{Name: cfg.Socket, Net: "unixgram"}},
		ident:  cfg.Identifier,
		level:  cfg.Level,
		source: cfg.AddSource,
	}, nil
}

// Close releases the handler's socket (shared by handlers derived with
// WithAttrs and WithGroup).
func (h *JournalHandler) Close() error { return h.w.conn.Close() }

func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *JournalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := *h
	n.pre = append([]byte(nil), h.pre...)
	for _, a := range as {
		n.pre = appendAttr(n.pre, h.prefix, a, 0)
	}
	return &n
}

func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + upperKey(name) + "_"
	return &n
}

func (h *JournalHandler) Handle(_ context.Context, r slog.Record) error {
	b := h.entry(r, 0)
	err := h.w.send(b)
	if err != nil && isTooBig(err) {
		err = h.w.sendLarge(b)
		if err != nil {
			// No memfd: send what fits rather than nothing.
			err = h.w.send(h.entry(r, truncateAt))
		}
	}
	return err
}

// truncateAt is the value length kept when an entry cannot be sent whole.
const truncateAt = 8 << 10

func (h *JournalHandler) entry(r slog.Record, limit int) []byte {
	b := make([]byte, 0, 256+len(h.pre))
	msg := r.Message
	if limit > 0 && len(msg) > limit {
		msg = cut(msg, limit)
	}
	b = appendField(b, "MESSAGE", msg)
	b = appendField(b, "PRIORITY", strconv.Itoa(Priority(r.Level)))
	b = appendField(b, "SYSLOG_IDENTIFIER", h.ident)
	if h.source && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		if f.File != "" {
			b = appendField(b, "CODE_FILE", f.File)
			b = appendField(b, "CODE_LINE", strconv.Itoa(f.Line))
		}
		if f.Function != "" {
			b = appendField(b, "CODE_FUNC", f.Function)
		}
	}
	b = append(b, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, h.prefix, a, limit)
		return true
	})
	if limit > 0 {
		b = appendField(b, "TRUNCATED", "1")
	}
	return b
}

// Priority maps a slog level to a syslog priority: Debug 7, Info 6,
// Warn 4, Error 3, Error+4 and above 2 (crit).
func Priority(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 7
	case l < slog.LevelWarn:
		return 6
	case l < slog.LevelError:
		return 4
	case l < slog.LevelError+4:
		return 3
	default:
		return 2
	}
}

// reserved fields are written by the handler; an attribute with the same
// name is renamed ATTR_<name> so it cannot forge or duplicate them.
var reserved = map[string]bool{
	"MESSAGE": true, "PRIORITY": true, "SYSLOG_IDENTIFIER": true,
	"CODE_FILE": true, "CODE_LINE": true, "CODE_FUNC": true, "TRUNCATED": true,
}

func appendAttr(b []byte, prefix string, a slog.Attr, limit int) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + upperKey(a.Key) + "_"
		}
		for _, g := range a.Value.Group() {
			b = appendAttr(b, p, g, limit)
		}
		return b
	}
	name := FieldName(prefix + upperKey(a.Key))
	if reserved[name] {
		name = "ATTR_" + name
	}
	v := valueString(a.Value)
	if limit > 0 && len(v) > limit {
		v = cut(v, limit)
	}
	return appendField(b, name, v)
}

func upperKey(k string) string { return strings.ToUpper(SnakeKey(k)) }

// FieldName makes s a valid journal field name: A-Z, 0-9 and _ only (any
// other byte becomes _), not starting with _ (leading ones are dropped)
// nor a digit (X_ is put before it), at most 64 bytes. "" becomes ATTR.
func FieldName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	for len(b) > 0 && b[0] == '_' {
		b = b[1:]
	}
	switch {
	case len(b) == 0:
		return "ATTR"
	case b[0] >= '0' && b[0] <= '9':
		b = append([]byte("X_"), b...)
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error()
		case []byte:
			return string(x)
		case nil:
			return "<nil>"
		}
		return fmt.Sprintf("%+v", v.Any())
	default:
		return v.String()
	}
}

// appendField encodes one field; a value with a line break uses the binary
// form: NAME\n, its length as 64-bit little endian, the value, \n.
func appendField(b []byte, name, value string) []byte {
	if strings.IndexByte(value, '\n') < 0 {
		b = append(b, name...)
		b = append(b, '=')
		b = append(b, value...)
		return append(b, '\n')
	}
	b = append(b, name...)
	b = append(b, '\n')
	b = binary.LittleEndian.AppendUint64(b, uint64(len(value)))
	b = append(b, value...)
	return append(b, '\n')
}

func cut(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + fmt.Sprintf("… [truncated, %d bytes]", len(s))
}

func (w *journalWriter) send(b []byte) error {
	_, _, err := w.conn.WriteMsgUnix(b, nil, w.addr)
	return err
}

func isTooBig(err error) bool {
	return errors.Is(err, syscall.EMSGSIZE) || errors.Is(err, syscall.ENOBUFS)
}
