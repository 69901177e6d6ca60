package dpsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/kioskd/kioskd/dpwire"
	"github.com/pion/mediadevices"
	"github.com/pion/webrtc/v4"
)

// Server is a reference Digital Person server. It is an http.Handler for
// the control endpoint (ControlPath); AdminHandler serves the admin API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	api      *webrtc.API
	selector *mediadevices.CodecSelector

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // handlers (connections) and listeners

	mu        sync.Mutex
	closed    bool
	sessions  map[string]*session
	order     []*session // creation order
	conns     map[*conn]struct{}
	changed   chan struct{}
	counts    counters
	stats     Stats
	listeners []*http.Server
}

// counters are how many occasions each counted fault has seen.
type counters struct {
	fresh, starts, offers, stalls, connects, silences, hostile int
}

// Stats counts what happened on the server.
type Stats struct {
	Hellos       int            `json:"hellos"`
	Fresh        int            `json:"fresh"`   // sessions created
	Resumed      int            `json:"resumed"` // successful resumes
	Refused      map[string]int `json:"refused"` // server closes before Connected, by reason
	Unauthorized int            `json:"unauthorized"`
	WrongVersion int            `json:"wrong_version"` // upgrades refused with 426
	Live         int            `json:"live"`          // open control sockets
	// CandidatesIgnored counts client candidates past dpwire.MaxCandidates
	// on their connection.
	CandidatesIgnored int `json:"candidates_ignored"`
	// ICERestarts counts the ICE restarts answered (protocol 1.3).
	ICERestarts int `json:"ice_restarts"`
}

// New returns a server for cfg. Nothing listens until Serve or Listen; the
// Server can also be mounted on any mux as an http.Handler.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("dpsim: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sel, err := Codecs(cfg.VideoBitrate)
	if err != nil {
		return nil, fmt.Errorf("dpsim: codecs: %w", err)
	}
	api, err := newAPI(cfg, sel)
	if err != nil {
		return nil, fmt.Errorf("dpsim: webrtc: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, log: log, api: api, selector: sel,
		ctx: ctx, cancel: cancel,
		sessions: map[string]*session{},
		conns:    map[*conn]struct{}{},
		changed:  make(chan struct{}),
		stats:    Stats{Refused: map[string]int{}},
	}, nil
}

// Config returns the configuration in use, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// ServeHTTP serves the control endpoint: a WebSocket upgrade at
// ControlPath, 404 elsewhere. It returns when the session's control
// connection ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ControlPath {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ws, status, err := upgrade(w, r, s.cfg.Token, s.cfg.AllowedOrigins)
	if err != nil {
		s.mu.Lock()
		switch status {
		case http.StatusUnauthorized:
			s.stats.Unauthorized++
		case http.StatusUpgradeRequired:
			s.stats.WrongVersion++
		}
		s.mu.Unlock()
		s.log.Warn("upgrade refused", "remote", r.RemoteAddr, "status", status, "err", err)
		return
	}
	// The kiosk id of the upgrade (since 1.4) is for the logs: a
	// malformed one is logged and dropped, never a refusal.
	kioskID := r.Header.Get(dpwire.KioskIDHeader)
	if err := dpwire.CheckKioskID(kioskID); err != nil {
		s.log.Warn("ignoring a malformed "+dpwire.KioskIDHeader, "remote", r.RemoteAddr, "err", err)
		kioskID = ""
	}
	c := s.newConn(ws, r.RemoteAddr, kioskID)
	if c == nil {
		return
	}
	c.serve()
}

// Serve serves the control endpoint on l until Close; it returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle(ControlPath, s)
	return s.serve(l, mux)
}

// ServeAdmin serves the admin API on l until Close. l must be on a
// loopback address: the admin API has no authentication.
func (s *Server) ServeAdmin(l net.Listener) error {
	if err := checkLoopback(l.Addr()); err != nil {
		return err
	}
	return s.serve(l, s.AdminHandler())
}

func (s *Server) serve(l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, hs)
	s.mu.Unlock()
	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on addr and serves the control endpoint until Close.
func (s *Server) ListenAndServe(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ListenAndServeAdmin listens on addr, which must be a loopback address,
// and serves the admin API until Close.
func (s *Server) ListenAndServeAdmin(addr string) error {
	if err := CheckLoopbackAddr(addr); err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.ServeAdmin(l)
}

// Listen binds addr and serves the control endpoint in the background
// until Close; it returns the bound address (useful with port 0).
func (s *Server) Listen(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.background(func() { _ = s.Serve(l) })
	return l.Addr(), nil
}

// ListenAdmin binds addr (loopback only) and serves the admin API in the
// background until Close.
func (s *Server) ListenAdmin(addr string) (net.Addr, error) {
	if err := CheckLoopbackAddr(addr); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.background(func() { _ = s.ServeAdmin(l) })
	return l.Addr(), nil
}

func (s *Server) background(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// CheckLoopbackAddr refuses a listen address that is not on loopback
// (127.0.0.0/8, ::1 or localhost); an empty host means every interface and
// is refused too.
func CheckLoopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dpsim: admin address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dpsim: admin address %q is not a loopback address; the admin API has no authentication", addr)
	}
	return nil
}

func checkLoopback(a net.Addr) error {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("dpsim: admin listener on %s is not on loopback; the admin API has no authentication", a)
}

// Close ends every session (a `close` with serverConnectionFailed before
// Connected, controlDisconnected after, then the socket), stops the
// listeners it started, and returns once every goroutine it started has
// ended.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	listeners := s.listeners
	for _, sess := range s.sessions {
		sess.stopExpiry()
	}
	s.mu.Unlock()

	s.cancel()
	for _, hs := range listeners {
		_ = hs.Close()
	}
	s.wg.Wait()
	s.notify()
	return nil
}

// notify wakes everyone waiting for a change.
func (s *Server) notify() {
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Changed returns a channel that is closed at the next change of any
// session (state, counters, analysis) or of the server's Stats.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Sessions lists every session, oldest first, including ended ones (up to
// Config.HistoryLimit of those).
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionsLocked()
}

func (s *Server) sessionsLocked() []SessionInfo {
	out := make([]SessionInfo, 0, len(s.order))
	for _, sess := range s.order {
		out = append(out, sess.info())
	}
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Refused = make(map[string]int, len(s.stats.Refused))
	for k, v := range s.stats.Refused {
		st.Refused[k] = v
	}
	st.Live = len(s.conns)
	return st
}

// WaitFor waits until cond holds for the session list, re-checking at each
// change (no polling), and returns that list; or ctx's error with the last
// list seen.
func (s *Server) WaitFor(ctx context.Context, cond func([]SessionInfo) bool) ([]SessionInfo, error) {
	for {
		s.mu.Lock()
		ch := s.changed
		list := s.sessionsLocked()
		s.mu.Unlock()
		if cond(list) {
			return list, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return list, ctx.Err()
		}
	}
}

// ErrBadReason is returned by CloseAll for a reason a server may not send.
var ErrBadReason = errors.New("dpsim: not a server close reason")

// CloseAll sends `close` with reason (and message) to every live session
// and closes their sockets; it returns how many it closed. reason must be
// one of ServerCloseReasons. Sessions end or stay resumable as for any
// server close (only controlDisconnected and normal keep them).
func (s *Server) CloseAll(reason, message string) (int, error) {
	if !ValidServerReason(reason) {
		return 0, fmt.Errorf("%w: %q", ErrBadReason, reason)
	}
	return s.command(command{kind: cmdClose, reason: reason, message: message}), nil
}

// Drop cuts every live control socket: TCP close, no close message, no
// close frame. Sessions that have been Connected stay resumable.
func (s *Server) Drop() int {
	return s.command(command{kind: cmdDrop})
}

func (s *Server) command(c command) int {
	s.mu.Lock()
	var targets []*conn
	for r := range s.conns {
		targets = append(targets, r)
	}
	s.mu.Unlock()
	n := 0
	for _, r := range targets {
		if r.do(c) {
			n++
		}
	}
	return n
}

// take counts an occasion for a fault and says whether it strikes.
func take(c Count, n *int) bool {
	if c == 0 {
		return false
	}
	*n++
	return c == Always || *n <= int(c)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "dp-" + hex.EncodeToString(b[:])
}

// addSessionLocked registers a new session, forgetting the oldest ended
// ones beyond the history limit.
func (s *Server) addSessionLocked(sess *session) {
	s.sessions[sess.id] = sess
	s.order = append(s.order, sess)
	ended := 0
	for _, x := range s.order {
		if x.state == StateEnded {
			ended++
		}
	}
	if ended <= s.cfg.HistoryLimit {
		return
	}
	kept := s.order[:0]
	for _, x := range s.order {
		if x.state == StateEnded && ended > s.cfg.HistoryLimit {
			delete(s.sessions, x.id)
			ended--
			continue
		}
		kept = append(kept, x)
	}
	s.order = kept
}

var _ http.Handler = (*Server)(nil)

// heartbeatMS is what `session` announces.
func (s *Server) heartbeatMS() int { return int(s.cfg.Heartbeat / time.Millisecond) }
