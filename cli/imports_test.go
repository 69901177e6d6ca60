package cli

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kioskd/kioskd/"

// imports lists the packages the non-test Go files of dir import, by file.
func imports(t *testing.T, dir string) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range src.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			out[filepath.Base(f)] = append(out[filepath.Base(f)], p)
		}
	}
	return out
}

// TestOnlyTheDemoReachesDpsim: the production binary carries dpsim for
// `kioskd demo` (README.md, "dpsim in the kioskd binary"), and nothing
// else may reach it: in this package only demo.go imports it, and package
// daemon, which `kioskd run` hands over to, does not depend on it, not
// even indirectly (every build tag counted).
func TestOnlyTheDemoReachesDpsim(t *testing.T) {
	isDpsim := func(p string) bool { return p == module+"dpsim" || strings.HasPrefix(p, module+"dpsim/") }
	for file, ps := range imports(t, ".") {
		if file != "demo.go" && slices.ContainsFunc(ps, isDpsim) {
			t.Errorf("cli/%s imports dpsim; only demo.go may", file)
		}
	}

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	// Walk the module's packages that daemon imports, directly or not.
	via := map[string]string{module + "daemon": ""}
	queue := []string{module + "daemon"}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		for _, ps := range imports(t, filepath.Join(root, strings.TrimPrefix(pkg, module))) {
			for _, p := range ps {
				if !strings.HasPrefix(p, module) {
					continue
				}
				if _, seen := via[p]; seen {
					continue
				}
				via[p] = pkg
				if isDpsim(p) {
					chain := p
					for q := pkg; q != ""; q = via[q] {
						chain = q + " → " + chain
					}
					t.Fatalf("daemon reaches dpsim: %s", chain)
				}
				queue = append(queue, p)
			}
		}
	}
	if len(via) < 10 {
		t.Fatalf("walked only %d packages from daemon: %v", len(via), via)
	}
}
