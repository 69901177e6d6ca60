package status

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kioskd/kioskd/contract"
)

// TestHintsAreTheREADMETable: the staff hints `kioskd status` shows are
// the README's "Error codes" table, row for row (code, name, meaning,
// what to check), for all eight error names.
func TestHintsAreTheREADMETable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "### Error codes")
	if start < 0 {
		t.Fatal("README has no \"### Error codes\" section")
	}
	rows := 0
	for _, line := range strings.Split(text[start:], "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if !strings.HasPrefix(line, "| ") || len(cells) != 4 {
			continue
		}
		code, err := strconv.Atoi(cells[0])
		if err != nil {
			continue // the header
		}
		name, detail := rowName(cells[1])
		h, ok := HintFor(name, detail)
		if !ok {
			t.Errorf("README row %d: unknown error name %q", code, cells[1])
			continue
		}
		if detail != "" {
			if _, own := detailHints[name+"/"+detail]; !own {
				continue // a detail row kioskd has no hint of its own for (yet)
			}
		} else {
			rows++
		}
		if h.Code != code || h.Meaning != cells[2] || h.Check != cells[3] {
			t.Errorf("README row %q\n     hint %d | %s | %s", line, h.Code, h.Meaning, h.Check)
		}
	}
	if rows != len(contract.AllErrorNames) {
		t.Errorf("README's table has %d rows of known errors, want %d", rows, len(contract.AllErrorNames))
	}
}

func TestHintFor(t *testing.T) {
	for _, n := range contract.AllErrorNames {
		h, ok := HintFor(n.String(), "")
		if !ok || h.Code != n.Code() || h.Meaning == "" || h.Check == "" {
			t.Errorf("%s: %+v %v", n, h, ok)
		}
		// A detail without a hint of its own keeps the name's.
		if d, _ := HintFor(n.String(), "somedetail"); d != h {
			t.Errorf("%s with an unknown detail: %+v, want %+v", n, d, h)
		}
	}
	if _, ok := HintFor("noSuchError", ""); ok {
		t.Error("an unknown name has a hint")
	}
	var out strings.Builder
	lastError(func(k, v string) { out.WriteString(k + "=" + v + "\n") }, "noSuchError", "")
	if out.String() != "Last error=noSuchError\n" {
		t.Errorf("unknown name shown as %q", out.String())
	}
}

// rowName reads the error cell of a README row: "noScene", or a name with
// a detail, "serverConnectionFailed (unauthorized)" or with
// "ERROR_DETAIL=unauthorized", backticks allowed.
func rowName(cell string) (name, detail string) {
	cell = strings.ReplaceAll(cell, "`", "")
	name, rest, _ := strings.Cut(cell, " ")
	if open := strings.Index(rest, "("); open >= 0 {
		if end := strings.Index(rest[open:], ")"); end > 0 {
			detail = strings.TrimSpace(rest[open+1 : open+end])
		}
	}
	detail = strings.TrimPrefix(detail, "ERROR_DETAIL=")
	return name, detail
}
