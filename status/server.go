package status

import (
	"github.com/kioskd/kioskd/contract"

	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/clock"
)

// Server errors.
var (
	ErrNoSocket   = errors.New("status: no socket path (status.socket)")
	ErrNoSnapshot = errors.New("status: ServerOptions.Snapshot is required")
	ErrInUse      = errors.New("status: another process is serving the status socket")
	ErrNotSocket  = errors.New("status: status socket path exists and is not a socket")
)

// ServerOptions are what a Server needs besides its config section.
type ServerOptions struct {
	// Mode of the socket file; 0 means 0660 (the daemon's user and group).
	Mode os.FileMode
	// Snapshot returns the session's current condition. Required.
	Snapshot func() contract.Snapshot
	// Events, if set, re-reads Snapshot on each event and sends watchers
	// what changed. Give the server its own Bus subscription; the
	// supervisor must update its snapshot before publishing.
	Events <-chan contract.Event
	// PollInterval re-reads Snapshot on a timer too. 0 means 1 s without
	// Events and no polling with them. Negative disables polling.
	PollInterval time.Duration
	// Clock drives polling; nil means clock.Real.
	Clock clock.Clock
	// Logger gets connection errors at debug level; nil discards them.
	Logger *slog.Logger
	// LEDs, if set, serves the staff commands identify and lamp-test
	// (status/leds.go); nil answers them with ErrNoLEDs.
	LEDs LEDs
	// Network, if set, returns the call's congestion control figures
	// (nil: none now) for the one-shot reply while Connected.
	Network func() *Network
}

// ioTimeout bounds a client's command line and each write, so a stuck
// client cannot hold a goroutine for long.
const ioTimeout = 10 * time.Second

// MaxClients bounds the status socket's clients at once (each holds a file
// descriptor and one or two goroutines): a few people and scripts watch a
// kiosk, not thousands. One more is told so and hung up on.
const MaxClients = 32

// refuseTimeout bounds the one write to a client over MaxClients, which
// the accept loop does itself.
const refuseTimeout = 100 * time.Millisecond

// Server serves Status on a unix socket. NewServer starts it; Close stops it.
type Server struct {
	cfg  ServerOptions
	ln   net.Listener
	path string
	ino  uint64 // the socket file we created, so Close removes only ours

	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	full     bool // the last client was refused (to log the limit once)
	watchers map[*watcher]struct{}
	last     []byte // last status sent to watchers
}

type watcher struct {
	ch chan []byte // capacity 1: the newest status replaces an unsent one
}

func (w *watcher) offer(b []byte) {
	for {
		select {
		case w.ch <- b:
			return
		default:
		}
		select {
		case <-w.ch:
		default:
		}
	}
}

// NewServer serves the status socket of cfg (status.socket). It creates
// the socket's directory if needed, removes a stale socket file (one nobody
// answers on), listens with opts.Mode and serves. It fails with ErrInUse if
// a live server answers on the path, and with ErrNotSocket if the path is
// something else.
func NewServer(cfg config.Status, opts ServerOptions) (*Server, error) {
	if cfg.Socket == "" {
		return nil, ErrNoSocket
	}
	if opts.Snapshot == nil {
		return nil, ErrNoSnapshot
	}
	if opts.Mode == 0 {
		opts.Mode = 0o660
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	if opts.PollInterval == 0 && opts.Events == nil {
		opts.PollInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	path := cfg.Socket
	if len(path) > config.MaxSocketPath {
		return nil, fmt.Errorf("status: socket path %s is longer than %d bytes", path, config.MaxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("status: create socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := listen(path, opts.Mode)
	if err != nil {
		return nil, fmt.Errorf("status: listen on %s: %w", path, err)
	}
	s := &Server{
		cfg: opts, ln: ln, path: path, ino: inode(path),
		done: make(chan struct{}), conns: map[net.Conn]struct{}{}, watchers: map[*watcher]struct{}{},
	}
	s.wg.Add(2)
	go s.acceptLoop()
	go s.feedLoop()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, ends every connection, waits for the server's
// goroutines and removes the socket file. Safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	if s.ino != 0 && inode(s.path) == s.ino {
		os.Remove(s.path)
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%w: %s", ErrNotSocket, path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("status: remove stale socket: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.cfg.Logger.Debug("status socket accept failed", "error", err)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		if len(s.conns) >= MaxClients {
			full := !s.full
			s.full = true
			s.mu.Unlock()
			if full {
				s.cfg.Logger.Warn("status socket: too many clients; refusing more until some leave", "max_clients", MaxClients)
			}
			c.SetWriteDeadline(time.Now().Add(refuseTimeout))
			b, _ := json.Marshal(map[string]string{"error": fmt.Sprintf("too many status clients (%d); try again later", MaxClients)})
			c.Write(append(b, '\n'))
			c.Close()
			continue
		}
		s.full = false
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// feedLoop re-reads the snapshot on events (and polls) and sends watchers
// each change.
func (s *Server) feedLoop() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.cfg.PollInterval > 0 {
		t := s.cfg.Clock.NewTicker(s.cfg.PollInterval)
		defer t.Stop()
		tick = t.C()
	}
	events := s.cfg.Events
	for {
		select {
		case <-s.done:
			return
		case _, ok := <-events:
			if !ok {
				events = nil // the bus is gone; keep polling if asked
				continue
			}
		case <-tick:
		}
		s.publish()
	}
}

func (s *Server) current() []byte {
	b, _ := json.Marshal(FromSnapshot(s.cfg.Snapshot()))
	return append(b, '\n')
}

// oneShot is current with the Network figures while Connected.
func (s *Server) oneShot() []byte {
	snap := s.cfg.Snapshot()
	st := FromSnapshot(snap)
	if s.cfg.Network != nil && snap.State == contract.Connected {
		st.Network = s.cfg.Network()
	}
	b, _ := json.Marshal(st)
	return append(b, '\n')
}

func (s *Server) publish() {
	b := s.current()
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(b, s.last) {
		return
	}
	s.last = b
	for w := range s.watchers {
		w.offer(b)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	r := bufio.NewReaderSize(c, 64)
	line, err := r.ReadSlice('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		if errors.Is(err, bufio.ErrBufferFull) {
			s.writeError(c, "command too long")
		}
		return
	}
	c.SetReadDeadline(time.Time{})
	switch cmd := strings.TrimSpace(string(line)); cmd {
	case "status":
		s.write(c, s.oneShot())
	case "watch":
		s.watch(c)
	default:
		if isLEDCommand(cmd) {
			s.serveLEDs(c, cmd)
			return
		}
		s.writeError(c, fmt.Sprintf("unknown command %q: want status, watch, identify [DURATION] or lamp-test", cmd))
	}
}

func (s *Server) write(c net.Conn, b []byte) bool {
	c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := c.Write(b)
	if err != nil {
		s.cfg.Logger.Debug("status client write failed", "error", err)
	}
	return err == nil
}

func (s *Server) writeError(c net.Conn, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	s.write(c, append(b, '\n'))
}

func (s *Server) watch(c net.Conn) {
	w := &watcher{ch: make(chan []byte, 1)}
	s.mu.Lock()
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	}()
	// The client sends nothing more; a read returns when it hangs up.
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(gone)
	}()
	defer func() { c.Close(); <-gone }()

	sent := s.current()
	if !s.write(c, sent) {
		return
	}
	for {
		select {
		case <-s.done:
			return
		case <-gone:
			return
		case b := <-w.ch:
			if bytes.Equal(b, sent) {
				continue
			}
			if !s.write(c, b) {
				return
			}
			sent = b
		}
	}
}
