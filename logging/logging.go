// Package logging builds kioskd's slog.Logger: native journald fields
// under systemd, text or JSON on stderr elsewhere (docs/BEHAVIOUR.md section 9).
//
// Every format carries the same fields: session_id, connection_state,
// current_step, percentage_loaded, error_name (with error_detail when it
// has one) and disconnect_reason in JSON and text, SESSION_ID, CONNECTION_STATE, … in the journal, so support
// finds a session with `journalctl -u kioskd SESSION_ID=…`. A
// SessionTracker stamps session_id on every line once it is known, and
// every line is redacted: the token and key-like attributes never reach
// the output.
//
// The pipeline is tracker → redactor → format handler.
package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Formats accepted by New (and `--log-format`).
const (
	FormatAuto    = "auto"
	FormatJournal = "journal"
	FormatJSON    = "json"
	FormatText    = "text"
)

// DefaultJournalSocket is where systemd-journald reads native entries.
const DefaultJournalSocket = "/run/systemd/journal/socket"

// DefaultIdentifier is the SYSLOG_IDENTIFIER of kioskd's entries.
const DefaultIdentifier = "kioskd"

// Errors from New and NewJournalHandler.
var (
	ErrUnknownFormat = errors.New("logging: unknown log format (want auto, journal, json or text)")
	ErrNoJournal     = errors.New("logging: journald socket not available")
)

// Options tune New. The zero value logs at Info to the default journal socket.
type Options struct {
	// Level is the minimum level; nil means slog.LevelInfo.
	Level slog.Leveler
	// Secrets are values (the server token) that must never be logged;
	// every occurrence in a message or attribute becomes [REDACTED].
	Secrets []string
	// JournalSocket overrides DefaultJournalSocket (tests use a temp socket).
	JournalSocket string
	// Identifier overrides DefaultIdentifier.
	Identifier string
	// AddSource adds CODE_FILE/CODE_LINE/CODE_FUNC (journal) or source (JSON, text).
	AddSource bool
}

// New returns a logger writing in format to w (w is unused by the journal
// format), and the SessionTracker that stamps session_id on its lines.
//
// FormatAuto ("" too) picks the journal when w is the stream systemd
// connected to the journal (JOURNAL_STREAM matches its device and inode,
// as systemd.exec(5) documents) and the journal socket is there, text
// otherwise. FormatJournal fails with ErrNoJournal when the socket is missing.
func New(format string, w io.Writer, opts Options) (*slog.Logger, *SessionTracker, error) {
	if opts.Level == nil {
		opts.Level = slog.LevelInfo
	}
	if opts.JournalSocket == "" {
		opts.JournalSocket = DefaultJournalSocket
	}
	if opts.Identifier == "" {
		opts.Identifier = DefaultIdentifier
	}
	jcfg := JournalConfig{Socket: opts.JournalSocket, Identifier: opts.Identifier, Level: opts.Level, AddSource: opts.AddSource}
	hopts := &slog.HandlerOptions{Level: opts.Level, AddSource: opts.AddSource, ReplaceAttr: snakeKeys}

	var base slog.Handler
	switch strings.ToLower(strings.TrimSpace(format)) {
	case FormatAuto, "":
		if IsJournalStream(w) {
			if jh, err := NewJournalHandler(jcfg); err == nil {
				base = jh
			}
		}
		if base == nil {
			base = slog.NewTextHandler(w, hopts)
		}
	case FormatJournal:
		jh, err := NewJournalHandler(jcfg)
		if err != nil {
			return nil, nil, err
		}
		base = jh
	case FormatJSON:
		base = slog.NewJSONHandler(w, hopts)
	case FormatText:
		base = slog.NewTextHandler(w, hopts)
	default:
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownFormat, format)
	}
	tracker := NewSessionTracker()
	return slog.New(tracker.Wrap(Redact(base, opts.Secrets...))), tracker, nil
}

// snakeKeys is the JSON/text ReplaceAttr: attribute keys in lower snake case.
func snakeKeys(_ []string, a slog.Attr) slog.Attr {
	a.Key = SnakeKey(a.Key)
	return a
}

// SnakeKey is the lower snake case form of an attribute key, the JSON/text
// key: "sessionID" → "session_id", "frames-sent" → "frames_sent". Keys
// already in snake case are unchanged.
func SnakeKey(key string) string {
	simple := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			simple = false
			break
		}
	}
	if simple {
		return key
	}
	rs := []rune(key)
	var b strings.Builder
	b.Grow(len(key) + 4)
	lastUnderscore := false
	put := func(r rune) {
		b.WriteRune(r)
		lastUnderscore = r == '_'
	}
	for i, r := range rs {
		switch {
		case r >= 'A' && r <= 'Z':
			if i > 0 && !lastUnderscore {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
				if prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9' || (prev >= 'A' && prev <= 'Z' && nextLower) {
					put('_')
				}
			}
			put(r + ('a' - 'A'))
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			put(r)
		default:
			put('_')
		}
	}
	return b.String()
}
