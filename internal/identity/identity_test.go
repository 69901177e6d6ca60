package identity

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestReadHashesTheMachineID(t *testing.T) {
	const mid = "3d1219c7c4c5404aaa1f6d2a48adfda4"
	path := filepath.Join(t.TempDir(), "machine-id")
	if err := os.WriteFile(path, []byte(mid+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	id, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^k-[0-9a-f]{20}$`).MatchString(id.KioskID) {
		t.Fatalf("KioskID = %q", id.KioskID)
	}
	if strings.Contains(id.KioskID, mid[:8]) {
		t.Fatalf("KioskID %q shows the machine id", id.KioskID)
	}
	again, _ := Read(path)
	if again.KioskID != id.KioskID {
		t.Fatal("not stable")
	}
	if KioskID("00000000000000000000000000000001") == id.KioskID {
		t.Fatal("another machine, the same id")
	}
	if h, _ := os.Hostname(); id.Hostname != h {
		t.Fatalf("Hostname = %q, want %q", id.Hostname, h)
	}
}

func TestReadWithoutMachineID(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	bad := filepath.Join(dir, "bad")
	_ = os.WriteFile(empty, nil, 0o444)
	_ = os.WriteFile(bad, []byte("uninitialized\n"), 0o444)
	for _, p := range []string{filepath.Join(dir, "missing"), empty, bad} {
		id, err := Read(p)
		if !errors.Is(err, ErrNoMachineID) || id.KioskID != "" || id.Hostname == "" {
			t.Errorf("%s: %+v, %v", p, id, err)
		}
	}
}
