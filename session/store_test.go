package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStoreRoundTripAtomicAndPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := NewStore(dir)
	if _, err := s.Load(); !errors.Is(err, ErrNoStoredSession) {
		t.Fatalf("empty store: %v", err)
	}
	want := Stored{SessionID: "abc", ServerURL: "ws://x", SavedAt: time.Unix(100, 0).UTC()}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := s.Load()
	if err != nil || got.SessionID != "abc" || got.ServerURL != "ws://x" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	if err := s.Forget(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); !errors.Is(err, ErrNoStoredSession) {
		t.Fatal("Forget left the session")
	}
}

func TestStoreCorruptFileIsAnErrorNotAPanic(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":    "\x00\xff{{{",
		"truncated":  `{"version":1,"session_id":"ab`,
		"no id":      `{"version":1}`,
		"wrong ver":  `{"version":7,"session_id":"x"}`,
		"not object": `[1,2,3]`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, StateFileName), []byte(body), 0o600)
			if _, err := NewStore(dir).Load(); !errors.Is(err, ErrCorruptState) {
				t.Fatalf("got %v, want ErrCorruptState", err)
			}
		})
	}
}

// TestStoreLoadDoesNotBlockOnAFIFO: a state file that is a FIFO (or a
// symlink to one, or another file that is not regular) is a warning and a
// fresh session; reading it would block Load, and the supervisor with it,
// until something writes to the FIFO, for ever.
func TestStoreLoadDoesNotBlockOnAFIFO(t *testing.T) {
	for _, link := range []bool{false, true} {
		name := "fifo"
		if link {
			name = "symlink to a fifo"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := NewStore(dir)
			fifo := s.Path()
			if link {
				fifo = filepath.Join(dir, "fifo")
				if err := os.Symlink(fifo, s.Path()); err != nil {
					t.Fatal(err)
				}
			}
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := s.Load()
				done <- err
			}()
			guard := time.NewTimer(5 * time.Second) // a failure guard
			defer guard.Stop()
			select {
			case err := <-done:
				if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "not a regular file (a FIFO)") {
					t.Fatalf("Load of a FIFO: %v, want ErrCorruptState: not a regular file", err)
				}
				// The fresh session's id replaces it.
				if err := s.Save(Stored{SessionID: "fresh", ServerURL: "ws://x"}); err != nil {
					t.Fatal(err)
				}
				if got, err := s.Load(); err != nil || got.SessionID != "fresh" {
					t.Fatalf("after a save: %+v, %v", got, err)
				}
			case <-guard.C:
				// Let the blocked Load go, so the test binary can end.
				if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				t.Fatal("Load blocks on a FIFO")
			}
		})
	}
}

func TestStoreFailedWriteKeepsWhatWasStored(t *testing.T) {
	// Root ignores directory permissions, so make the rename itself fail:
	// a directory stands where the state file should go.
	dir := t.TempDir()
	s := NewStore(dir)
	if err := s.Save(Stored{SessionID: "keep", ServerURL: "ws://x"}); err != nil {
		t.Fatal(err)
	}
	// A state "file" that cannot be replaced: rename onto a non-empty directory fails.
	bad := NewStore(filepath.Join(dir, "sub"))
	os.MkdirAll(filepath.Join(bad.Path(), "x"), 0o700)
	if err := bad.Save(Stored{SessionID: "new"}); err == nil {
		t.Fatal("save over a directory succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 1 {
		t.Fatalf("temp file left behind after a failed save: %v", entries)
	}
	got, err := s.Load()
	if err != nil || got.SessionID != "keep" {
		t.Fatalf("stored session lost: %+v %v", got, err)
	}
}

func FuzzParseStored(f *testing.F) {
	f.Add([]byte(`{"version":1,"session_id":"abc","server_url":"ws://x","saved_at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"session_id":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStored(data)
		if err == nil && st.SessionID == "" {
			t.Fatal("accepted a state without a session id")
		}
	})
}

// A server URL never reaches the state file with what may carry a secret
// (user info, query, fragment), and a file written with one still resumes
// on the same server.
func TestStoredURLHasNoSecrets(t *testing.T) {
	s := NewStore(t.TempDir())
	const secret = "S3cr3t-query-token-0123"
	if err := s.Save(Stored{SessionID: "abc", ServerURL: "wss://u:" + secret + "@dp.example.com/v1?access_token=" + secret + "#" + secret}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secret) {
		t.Fatalf("the state file holds the secret:\n%s", data)
	}
	old := []byte(`{"version":1,"session_id":"abc","server_url":"wss://dp.example.com/v1?access_token=` + secret + `"}`)
	st, err := ParseStored(old)
	if err != nil || st.ServerURL != "wss://dp.example.com/v1" {
		t.Fatalf("an older file: %+v, %v; want the URL without its query", st, err)
	}
}
