package dpv1

import "sync"

// kindLog decides which of a server's repeated, ignored events get a log
// line: the first of each kind, for at most max kinds (0: no limit), while
// all of them are counted for one summary line at the end. So a server
// that repeats or invents events cannot flood the log. Safe for
// concurrent use.
type kindLog struct {
	max int

	mu     sync.Mutex
	seen   map[string]bool
	events int
}

// first counts one event of kind and reports whether it is the one to log.
func (k *kindLog) first(kind string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.events++
	if k.seen[kind] || (k.max > 0 && len(k.seen) >= k.max) {
		return false
	}
	if k.seen == nil {
		k.seen = map[string]bool{}
	}
	k.seen[kind] = true
	return true
}

// unlogged reports how many events there were and how many kinds were
// logged, and whether some events had no line of their own.
func (k *kindLog) unlogged() (events, kinds int, some bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.events, len(k.seen), k.events > len(k.seen)
}
