package deptest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cited matches a Markdown file name in any text: "docs/BEHAVIOUR.md",
// "README.md", "docs/PROTOCOL.md".
var cited = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]+\.md\b`)

// TestCitedDocumentsExist: every document a file of the repository cites
// is in the repository, found beside the citing file or from the root, so
// a reader of the repository can follow every reference.
func TestCitedDocumentsExist(t *testing.T) {
	root := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "bin" || name == "dist" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !textFile(name) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range cited.FindAllString(string(b), -1) {
			if !exists(filepath.Join(filepath.Dir(path), c)) && !exists(filepath.Join(root, c)) {
				rel, _ := filepath.Rel(root, path)
				t.Errorf("%s cites %s, which is not in the repository", rel, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func textFile(name string) bool {
	switch filepath.Ext(name) {
	case ".go", ".md", ".sh", ".mk", ".yaml", ".yml", ".service", ".c", ".h", ".txt", ".json", ".conf":
		return true
	}
	return name == "Makefile"
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
