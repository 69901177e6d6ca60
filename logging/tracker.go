package logging

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// SessionTracker stamps session_id on every record once the session id is
// known. A record (or a logger made With session_id) keeps its own. It is
// safe for concurrent use; Set and Clear take effect for the next record.
type SessionTracker struct {
	id atomic.Pointer[string]
}

// NewSessionTracker returns a tracker with no session id.
func NewSessionTracker() *SessionTracker { return &SessionTracker{} }

// Set makes id the session id of the following records.
func (t *SessionTracker) Set(id string) {
	if id == "" {
		t.Clear()
		return
	}
	t.id.Store(&id)
}

// Clear forgets the session id.
func (t *SessionTracker) Clear() { t.id.Store(nil) }

// ID returns the current session id, "" if none.
func (t *SessionTracker) ID() string {
	if p := t.id.Load(); p != nil {
		return *p
	}
	return ""
}

// Wrap returns a handler that adds session_id to what it passes to h.
// session_id always lands at the top level (SESSION_ID in the journal),
// even on a logger made WithGroup.
func (t *SessionTracker) Wrap(h slog.Handler) slog.Handler {
	return &trackerHandler{t: t, base: h}
}

type groupFrame struct {
	name  string
	attrs []slog.Attr
}

type trackerHandler struct {
	t     *SessionTracker
	base  slog.Handler // carries the attrs given before any group
	hasID bool         // a top-level session_id is already in base
	// Groups are kept here rather than passed to base, so that session_id
	// can be added outside them.
	groups []groupFrame
}

func (h *trackerHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

func (h *trackerHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := *h
	if len(h.groups) == 0 {
		n.hasID = h.hasID || hasSessionID(as)
		n.base = h.base.WithAttrs(as)
		return &n
	}
	n.groups = append([]groupFrame(nil), h.groups...)
	last := &n.groups[len(n.groups)-1]
	last.attrs = append(append([]slog.Attr(nil), last.attrs...), as...)
	return &n
}

func (h *trackerHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.groups = append(append([]groupFrame(nil), h.groups...), groupFrame{name: name})
	return &n
}

func (h *trackerHandler) Handle(ctx context.Context, r slog.Record) error {
	id := h.t.ID()
	add := id != "" && !h.hasID
	if len(h.groups) == 0 {
		if add && !recordHasSessionID(r) {
			r = r.Clone()
			r.AddAttrs(SessionID(id))
		}
		return h.base.Handle(ctx, r)
	}
	// Nest the record's attrs in the groups ourselves, session_id outside.
	inner := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { inner = append(inner, a); return true })
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		as := append(append(make([]slog.Attr, 0, len(g.attrs)+len(inner)), g.attrs...), inner...)
		if len(as) == 0 {
			inner = nil // an empty group is not shown
			continue
		}
		inner = []slog.Attr{{Key: g.name, Value: slog.GroupValue(as...)}}
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	if add {
		nr.AddAttrs(SessionID(id))
	}
	nr.AddAttrs(inner...)
	return h.base.Handle(ctx, nr)
}

func recordHasSessionID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = hasSessionID([]slog.Attr{a})
		return !found
	})
	return found
}

// hasSessionID looks for a top-level session_id, including in inlined
// (empty-key) groups.
func hasSessionID(as []slog.Attr) bool {
	for _, a := range as {
		if a.Key == "" && a.Value.Kind() == slog.KindGroup {
			if hasSessionID(a.Value.Group()) {
				return true
			}
			continue
		}
		if a.Key != "" && SnakeKey(a.Key) == KeySessionID {
			return true
		}
	}
	return false
}
