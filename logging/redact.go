package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/kioskd/kioskd/config"
)

// Redacted replaces a secret in the output.
const Redacted = "[REDACTED]"

// Redact returns a handler that removes secrets before h sees a record:
// every occurrence of a secret in the message, an attribute value (also
// inside groups, in errors, Stringers and other values) or a key becomes
// [REDACTED], and attributes with a key-like name (token, authorization,
// password, secret, api_key, …; see SecretKey) are redacted whole.
func Redact(h slog.Handler, secrets ...string) slog.Handler {
	r := &redactor{next: h}
	var olds []string
	seen := map[string]bool{}
	for _, s := range secrets {
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s), quoted(s), jsonEscaped(s)} {
			if v != "" && !seen[v] {
				seen[v] = true
				olds = append(olds, v)
			}
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	if len(olds) > 0 {
		pairs := make([]string, 0, 2*len(olds))
		for _, o := range olds {
			pairs = append(pairs, o, Redacted)
		}
		r.rep = strings.NewReplacer(pairs...)
	}
	return r
}

type redactor struct {
	next slog.Handler
	rep  *strings.Replacer
	all  bool // inside a group with a key-like name
}

func (h *redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redactor) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, h.str(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(h.attr(a, h.all))
		return true
	})
	return h.next.Handle(ctx, nr)
}

func (h *redactor) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = h.attr(a, h.all)
	}
	n := *h
	n.next = h.next.WithAttrs(out)
	return &n
}

func (h *redactor) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.all = h.all || SecretKey(name)
	n.next = h.next.WithGroup(h.str(name))
	return &n
}

func (h *redactor) str(s string) string {
	s = stripURLs(s)
	if h.rep == nil {
		return s
	}
	return h.rep.Replace(s)
}

// urlPattern finds URLs in any text: the part after the scheme runs to
// the next space, quote or bracket.
var urlPattern = regexp.MustCompile(`(?i)\b(?:wss?|https?)://[^\s"'<>()\[\]{}\\]+`)

// stripURLs removes user info, query and fragment from every URL in s:
// they may carry a secret nobody told the redactor about (an
// ?access_token= in a configured URL). A URL that does not parse keeps
// only its scheme.
func stripURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		if !strings.ContainsAny(u, "?#@") {
			return u
		}
		if p := config.PublicURL(u); p != "" {
			return p
		}
		return u[:strings.Index(u, "://")+3] + Redacted
	})
}

// quoted is s as strconv.Quote (and so %q) writes it, without the quotes.
func quoted(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// jsonEscaped is s as a JSON string holds it, without the quotes.
func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func (h *redactor) attr(a slog.Attr, all bool) slog.Attr {
	a.Value = a.Value.Resolve()
	a.Key = h.str(a.Key)
	if a.Key != "" && (all || SecretKey(a.Key)) {
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindGroup:
		g := a.Value.Group()
		out := make([]slog.Attr, len(g))
		for i, x := range g {
			out[i] = h.attr(x, all)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindString:
		if s := a.Value.String(); h.str(s) != s {
			return slog.String(a.Key, h.str(s))
		}
	case slog.KindAny:
		var s string
		switch v := a.Value.Any().(type) {
		case error:
			s = v.Error()
		case []byte:
			s = string(v)
		case fmt.Stringer:
			s = v.String()
		default:
			s = fmt.Sprintf("%+v", v)
			if h.str(s) == s {
				// JSON and text handlers may render it their own way.
				if b, err := json.Marshal(v); err == nil && h.str(string(b)) != string(b) {
					return slog.String(a.Key, h.str(string(b)))
				}
				if t, ok := v.(interface{ MarshalText() ([]byte, error) }); ok {
					if b, err := t.MarshalText(); err == nil && h.str(string(b)) != string(b) {
						return slog.String(a.Key, h.str(string(b)))
					}
				}
			}
		}
		if r := h.str(s); r != s {
			return slog.String(a.Key, r)
		}
	}
	return a
}

// secretWords are key words whose attribute is redacted whole.
var secretWords = map[string]bool{
	"token": true, "tokens": true, "authorization": true, "auth": true,
	"password": true, "passwd": true, "passphrase": true, "secret": true,
	"secrets": true, "credential": true, "credentials": true, "cookie": true,
	"bearer": true, "apikey": true, "privatekey": true, "jwt": true,
}

// SecretKey reports whether an attribute key names a secret: one of its
// snake-case words is token, authorization, password, secret, credential,
// cookie, … or its last word is key (api_key, private_key, key). A key
// that names where a secret lives (token_file, token_path) is not one.
func SecretKey(key string) bool {
	words := strings.FieldsFunc(SnakeKey(key), func(r rune) bool { return r == '_' })
	if len(words) == 0 {
		return false
	}
	switch last := words[len(words)-1]; last {
	case "key", "keys":
		return true
	case "file", "path", "env", "dir":
		return false
	}
	for _, w := range words {
		if secretWords[w] {
			return true
		}
	}
	return false
}
