package logging

import (
	"testing"

	"github.com/kioskd/kioskd/contract"
)

// TestJournalErrorDetail: a refused token's line carries ERROR_NAME and
// ERROR_DETAIL, so support finds every refusal with
// `journalctl -u kioskd ERROR_DETAIL=unauthorized`; JSON says error_detail.
func TestJournalErrorDetail(t *testing.T) {
	j := newFakeJournal(t)
	log, _ := newJournalLogger(t, j, Options{})
	log.Warn("connect failed: serverConnectionFailed (unauthorized)",
		ErrorName(contract.ServerConnectionFailed), ErrorDetail(contract.DetailUnauthorized))
	e := j.next()
	if e.get("ERROR_NAME") != "serverConnectionFailed" || e.get("ERROR_DETAIL") != "unauthorized" {
		t.Fatalf("ERROR_NAME %q ERROR_DETAIL %q", e.get("ERROR_NAME"), e.get("ERROR_DETAIL"))
	}
	// The session logs the key as a plain string; it maps the same way.
	log.Info("retrying", "error_name", "serverConnectionFailed", "error_detail", "unauthorized")
	if e := j.next(); e.get("ERROR_DETAIL") != "unauthorized" {
		t.Fatalf("plain error_detail key: ERROR_DETAIL %q", e.get("ERROR_DETAIL"))
	}

	jl, _, buf := newJSON(t, Options{})
	jl.Warn("x", ErrorDetail(contract.DetailUnauthorized))
	if m := jsonLines(t, buf)[0]; m[KeyErrorDetail] != "unauthorized" {
		t.Fatalf("JSON line %v lacks error_detail", m)
	}
}
