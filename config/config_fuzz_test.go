package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzParse: whatever the bytes, Parse does not panic or hang, gives the
// same answer twice, and
//   - on error: no Config, and only *KeyErrors (ErrInvalid) with sane lines,
//     at most maxReported of them plus a summary;
//   - on success: the Config validates, and writing it back as YAML and
//     parsing that gives the same Config (nothing the decoder accepted is
//     misread or lost).
//
// Seeds are in testdata/fuzz/FuzzParse, among them the example config.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		// The same file gives the same report, in the same order.
		if _, again := Parse(data, "fuzz.yaml"); (err == nil) != (again == nil) || err != nil && err.Error() != again.Error() {
			t.Fatalf("not deterministic:\n%v\n--- then ---\n%v", err, again)
		}
		if err != nil {
			if c != nil {
				t.Fatal("Config and error both returned")
			}
			ps := problems(t, err)
			if len(ps) == 0 || len(ps) > maxReported+1 {
				t.Fatalf("%d problems", len(ps))
			}
			// YAML breaks lines at \n, \r, NEL, LS and PS; count them all
			// (\r\n twice: this is an upper bound).
			lines := 1
			for _, br := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
				lines += bytes.Count(data, []byte(br))
			}
			if bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
				lines = len(data)/2 + 1 // UTF-16: any 2 bytes may be a break
			}
			for _, p := range ps {
				if p.Line < 0 || p.Line > lines+1 {
					t.Fatalf("line %d in a file of %d lines: %v", p.Line, lines, p)
				}
				if p.File != "fuzz.yaml" {
					t.Fatalf("file %q: %v", p.File, p)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("neither Config nor error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := Parse(out, "roundtrip.yaml")
		if err != nil {
			t.Fatalf("re-parsing\n%s\nfailed: %v", out, err)
		}
		c.src, c2.src = nil, nil
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\nvia\n%s", c, c2, out)
		}
	})
}

var updateSeed = flag.Bool("update-seed", false, "rewrite testdata/fuzz/FuzzParse/example-config from configs/kioskd.yaml")

const exampleSeed = "testdata/fuzz/FuzzParse/example-config"

// The seed corpus holds the example config verbatim, so fuzzing always
// starts from a full valid file; this fails when the example changes and
// the seed was not regenerated (go test ./config -run FuzzSeedIsExample -update-seed).
func TestFuzzSeedIsExample(t *testing.T) {
	want, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if *updateSeed {
		seed := "go test fuzz v1\n[]byte(" + strconv.Quote(string(want)) + ")\n"
		if err := os.WriteFile(exampleSeed, []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := readSeed(t, exampleSeed); !bytes.Equal(got, want) {
		t.Fatalf("%s is not %s; run: go test ./config -run FuzzSeedIsExample -update-seed", exampleSeed, exampleConfig)
	}
}

// readSeed reads a one-value "go test fuzz v1" file holding []byte("...").
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	header, body, ok := strings.Cut(string(b), "\n")
	if !ok || header != "go test fuzz v1" {
		t.Fatalf("%s: not a go test fuzz v1 file", path)
	}
	body = strings.TrimSpace(body)
	if !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		t.Fatalf("%s: want one []byte value", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// Sanity for readSeed's users: every committed seed is well-formed.
func TestFuzzSeedsWellFormed(t *testing.T) {
	entries, err := os.ReadDir("testdata/fuzz/FuzzParse")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 6 {
		t.Fatalf("only %d seeds", len(entries))
	}
	for _, e := range entries {
		data := readSeed(t, "testdata/fuzz/FuzzParse/"+e.Name())
		// Parse must handle every seed without panicking; outcome is free.
		if _, err := Parse(data, "seed.yaml"); err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error is not ErrInvalid: %v", e.Name(), err)
		}
	}
}
