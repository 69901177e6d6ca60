package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kioskd/kioskd/config"
)

// StateFileName is the stored session's file name in the state directory.
const StateFileName = "session.json"

// maxStateFile bounds what Load reads: the file is a few hundred bytes.
const maxStateFile = 64 << 10

// Stored is what kioskd keeps to resume a session (docs/BEHAVIOUR.md section 4).
type Stored struct {
	Version   int       `json:"version"`
	SessionID string    `json:"session_id"`
	ServerURL string    `json:"server_url"` // a session is only resumed on the server that made it
	SavedAt   time.Time `json:"saved_at"`
}

// Store errors.
var (
	// ErrNoStoredSession: there is no state file (a fresh kiosk).
	ErrNoStoredSession = errors.New("session: no stored session")
	// ErrCorruptState: the state file exists but cannot be used; kioskd
	// warns and starts a fresh session.
	ErrCorruptState = errors.New("session: state file is corrupt")
)

// Store keeps the stored session in dir/session.json, written atomically
// (temp file, fsync, rename, fsync of the directory) with mode 0600, so a
// failed write never loses what was stored before.
type Store struct {
	dir string
}

// NewStore returns a store in dir; nothing is touched until Save.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// Path is the state file's path.
func (s *Store) Path() string { return filepath.Join(s.dir, StateFileName) }

// Load reads the stored session: ErrNoStoredSession if there is none,
// an error wrapping ErrCorruptState if it cannot be used. A state file
// that is not a regular file (a FIFO, a device, a directory, or a
// symlink to one) cannot be used, and is never read: a FIFO would block
// the read until something writes to it, and a device might never end.
func (s *Store) Load() (Stored, error) {
	fi, err := os.Stat(s.Path()) // through symlinks: what would be read
	if errors.Is(err, fs.ErrNotExist) {
		return Stored{}, ErrNoStoredSession
	}
	if err != nil {
		return Stored{}, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if !fi.Mode().IsRegular() {
		return Stored{}, notRegular(fi)
	}
	// O_NONBLOCK: should the file have become a FIFO since the Stat, the
	// open does not wait for a writer, and the check below refuses it.
	f, err := os.OpenFile(s.Path(), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return Stored{}, ErrNoStoredSession
	}
	if err != nil {
		return Stored{}, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return Stored{}, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if !fi.Mode().IsRegular() {
		return Stored{}, notRegular(fi)
	}
	buf := make([]byte, maxStateFile+1)
	n, err := readFull(f, buf)
	if err != nil {
		return Stored{}, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if n > maxStateFile {
		return Stored{}, fmt.Errorf("%w: larger than %d bytes", ErrCorruptState, maxStateFile)
	}
	return ParseStored(buf[:n])
}

func notRegular(fi fs.FileInfo) error {
	what := fi.Mode().Type().String()
	switch t := fi.Mode().Type(); {
	case t&fs.ModeNamedPipe != 0:
		what = "a FIFO"
	case t&fs.ModeDevice != 0:
		what = "a device"
	case t&fs.ModeSocket != 0:
		what = "a socket"
	case t&fs.ModeDir != 0:
		what = "a directory"
	}
	return fmt.Errorf("%w: not a regular file (%s)", ErrCorruptState, what)
}

// ParseStored decodes a state file's contents.
func ParseStored(data []byte) (Stored, error) {
	var st Stored
	if err := json.Unmarshal(data, &st); err != nil {
		return Stored{}, fmt.Errorf("%w: %v", ErrCorruptState, err)
	}
	if st.Version != 1 {
		return Stored{}, fmt.Errorf("%w: unknown version %d", ErrCorruptState, st.Version)
	}
	if st.SessionID == "" || len(st.SessionID) > 256 {
		return Stored{}, fmt.Errorf("%w: bad session_id", ErrCorruptState)
	}
	// A file written before URLs were stored without their secrets still
	// resumes: its URL is read the way it is stored now.
	st.ServerURL = publicURL(st.ServerURL)
	return st, nil
}

func readFull(f *os.File, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}

// Save stores st atomically. On any error the previous file is untouched.
func (s *Store) Save(st Stored) error {
	st.Version = 1
	st.ServerURL = publicURL(st.ServerURL)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".session-*.tmp")
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if err := os.Rename(tmpName, s.Path()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	ok = true
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync() // make the rename itself durable across power loss
		d.Close()
	}
	return nil
}

// Forget removes the stored session.
func (s *Store) Forget() error {
	err := os.Remove(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// publicURL is u without user info, query and fragment, which may carry a
// secret and must never reach the state file.
func publicURL(u string) string {
	if p := config.PublicURL(u); p != "" {
		return p
	}
	return u
}
