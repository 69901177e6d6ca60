package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid matches (errors.Is) every error about the config file's
// content: syntax, unknown keys, wrong types and impossible values.
// check-config exits non-zero on it; a missing file is not ErrInvalid.
var ErrInvalid = errors.New("invalid config")

// ErrTooLarge matches a config file over MaxFileSize. It is also ErrInvalid.
var ErrTooLarge = errors.New("config file too large")

// ErrNoToken matches a token that cannot be had: the token file is
// missing, unreadable, empty or too large.
var ErrNoToken = errors.New("no server token")

// ErrBadToken matches a token with characters that cannot go into an HTTP
// Authorization header. The token itself is never in the message.
var ErrBadToken = errors.New("bad server token")

// ErrCAFile matches a server.ca_file that cannot be read or holds no
// PEM certificate.
var ErrCAFile = errors.New("bad server.ca_file")

// ErrDropIns matches a drop-in directory kioskd will not read: a
// directory where a drop-in file should be, or too many drop-ins. It is
// also ErrInvalid.
var ErrDropIns = errors.New("bad drop-in directory")

// ErrICECredential matches a server.ice_servers credential_file that
// cannot be read or holds no usable credential.
var ErrICECredential = errors.New("bad ICE server credential")

// ErrNoURL matches a config without server.url where one is needed
// (kioskd run; the demo brings its own server).
var ErrNoURL = errors.New("no server.url")

// KeyError is one problem in the config, located by file, line and dotted
// key path so an integrator can go straight to it:
//
//	kioskd.yaml:12: media.fps: must be between 1 and 60 (got 0)
//
// Line is 0 when unknown (a Config built in code, or a problem with the
// file as a whole); Key is empty for problems that are not about one key
// (YAML syntax). Every KeyError matches ErrInvalid.
type KeyError struct {
	File string
	Line int
	Key  string
	Msg  string

	cause error // an extra sentinel to match (ErrTooLarge, ErrNoURL); may be nil
	order int   // the file's place in the merge (0: the main file), for sorting
}

func (e *KeyError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes every KeyError match ErrInvalid.
func (e *KeyError) Is(target error) bool { return target == ErrInvalid }

// Unwrap gives the more specific sentinel, if any.
func (e *KeyError) Unwrap() error { return e.cause }

// maxReported is how many problems one error reports; a file with
// hundreds of them (a wrong file, a hostile one) would bury the first.
const maxReported = 20

// maxCollected bounds memory while collecting, before sorting.
const maxCollected = 1000

// errorList collects KeyErrors and turns them into one error in file order
// (the main file, then each drop-in).
type errorList struct {
	file    string // the file problems found by add are in
	order   int    // its place in the merge
	errs    []*KeyError
	dropped int // problems beyond maxCollected
	decoded int // errs[:decoded] came from decoding the file
}

func (l *errorList) full() bool { return len(l.errs) >= maxCollected }

func (l *errorList) add(line int, key, format string, args ...any) {
	if l.full() {
		l.dropped++
		return
	}
	l.errs = append(l.errs, &KeyError{File: l.file, order: l.order, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// addAt adds a problem at key, located where src says the first of at
// was set; in the main file without a line when none was.
func (l *errorList) addAt(src *source, at []string, key, format string, args ...any) *KeyError {
	if l.full() {
		l.dropped++
		return nil
	}
	e := &KeyError{File: src.main(), Key: key, Msg: fmt.Sprintf(format, args...)}
	if o, ok := src.where(at...); ok {
		e.File, e.Line, e.order = src.files[o.file], o.line, o.file
	}
	l.errs = append(l.errs, e)
	return e
}

// covers reports whether a problem was already found at key or at one of
// its parents: a value that failed to decode kept its default, and
// validating that default would only repeat the problem in other words.
func (l *errorList) covers(key string) bool {
	for _, e := range l.errs[:l.decoded] {
		if e.Key != "" && (e.Key == key || strings.HasPrefix(key, e.Key+".")) {
			return true
		}
	}
	return false
}

// err sorts by file and line (problems without a line last, otherwise in
// the order found), keeps the first maxReported and joins them.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := slices.Clone(l.errs)
	slices.SortStableFunc(errs, func(a, b *KeyError) int {
		if a.Line <= 0 || b.Line <= 0 {
			return cmp.Compare(sortLine(a.Line), sortLine(b.Line))
		}
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.Line, b.Line))
	})
	more := l.dropped
	if len(errs) > maxReported {
		more += len(errs) - maxReported
		errs = errs[:maxReported]
	}
	joined := make([]error, 0, len(errs)+1)
	for _, e := range errs {
		joined = append(joined, e)
	}
	if more > 0 {
		joined = append(joined, &KeyError{File: l.file, Msg: fmt.Sprintf("too many errors (%d more not shown)", more)})
	}
	return errors.Join(joined...)
}

func sortLine(line int) int {
	if line <= 0 {
		return int(^uint(0) >> 1)
	}
	return line
}

// maxQuoted is how much of a user's value or key goes back into a message:
// enough to recognise it, not enough to flood a terminal or a journal.
const maxQuoted = 40

// quote renders a user-supplied string for a message: quoted, escaped and
// truncated. Never use it on anything that may be secret (token_file, url).
func quote(s string) string {
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// maxKeyShown: kioskd's longest key has 19 characters, so a longer
// unknown key is not a typo of one; it may be a token pasted in the wrong
// place, and is shown shortened.
const maxKeyShown = 24

// keyName renders a YAML key for a dotted path: plain names as they are,
// anything odd (spaces, control characters) quoted, long ones shortened.
func keyName(s string) string {
	if len(s) > maxKeyShown {
		cut := 8
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]+"…") + fmt.Sprintf("(%d bytes)", len(s))
	}
	if s == "" {
		return quote(s)
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return quote(s)
		}
	}
	return s
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
