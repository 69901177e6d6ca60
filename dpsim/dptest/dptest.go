// Package dptest runs a reference Digital Person server (dpsim) for tests,
// as net/http/httptest does for HTTP: on loopback ports, torn down by
// t.Cleanup, with Go methods that mirror the admin API.
//
//	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.Scenario{NoScene: 2}})
//	// dial dp.URL with "Authorization: Bearer "+dp.Token …
//	list, err := dp.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool { … })
//
// The server gathers loopback ICE candidates only (127.0.0.1, UDP). A kiosk
// with pion's default settings still connects to it from the machine's own
// non-loopback address; on a machine with no other interface, give the kiosk
// side LoopbackSettingEngine.
package dptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dpsim"
)

// Server is a dpsim server listening on loopback.
type Server struct {
	// DP is the server itself, for anything the mirrors below do not cover.
	DP *dpsim.Server
	// URL is the control endpoint, ws://127.0.0.1:port/v1/session.
	URL string
	// AdminURL is the admin API's base, http://127.0.0.1:port.
	AdminURL string
	// Token is the bearer token the server expects (cfg.Token, or a
	// random one if that was empty).
	Token string

	t    testing.TB
	once sync.Once
}

// NewServer starts a dpsim server with cfg on loopback ports. A cfg.Token
// left empty is replaced by a random token (see Server.Token), and ICE is
// limited to loopback. The server is closed by t.Cleanup (or Close); the
// test fails if it cannot start.
func NewServer(t testing.TB, cfg dpsim.Config) *Server {
	t.Helper()
	if cfg.Token == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		cfg.Token = "dptest-" + hex.EncodeToString(b[:])
	}
	cfg.ICELoopbackOnly = true
	lh := &testHandler{t: t, level: slog.LevelInfo, mu: &sync.Mutex{}, done: new(bool)}
	dp, err := dpsim.New(cfg, slog.New(lh))
	if err != nil {
		t.Fatalf("dptest: %v", err)
	}
	ctl, err := dp.Listen("127.0.0.1:0")
	if err != nil {
		dp.Close()
		t.Fatalf("dptest: %v", err)
	}
	adm, err := dp.ListenAdmin("127.0.0.1:0")
	if err != nil {
		dp.Close()
		t.Fatalf("dptest: %v", err)
	}
	s := &Server{
		DP:       dp,
		URL:      "ws://" + ctl.String() + dpsim.ControlPath,
		AdminURL: "http://" + adm.String(),
		Token:    cfg.Token,
		t:        t,
	}
	t.Cleanup(func() {
		s.Close()
		lh.stop()
	})
	return s
}

// Sessions mirrors GET /sessions.
func (s *Server) Sessions() []dpsim.SessionInfo { return s.DP.Sessions() }

// Session returns the session with id.
func (s *Server) Session(id string) (dpsim.SessionInfo, bool) {
	for _, x := range s.DP.Sessions() {
		if x.ID == id {
			return x, true
		}
	}
	return dpsim.SessionInfo{}, false
}

// Stats mirrors GET /stats.
func (s *Server) Stats() dpsim.Stats { return s.DP.Stats() }

// CloseAll mirrors POST /close?reason=R: it sends `close` with reason to
// every live session and returns how many. An invalid reason fails the test.
func (s *Server) CloseAll(reason string) int {
	n, err := s.DP.CloseAll(reason, "closed by the test")
	if err != nil {
		s.t.Errorf("dptest: %v", err)
	}
	return n
}

// SetConversationState mirrors POST /conversation?state=S: the DP of every
// live session says what it does; it returns how many connections sent it.
// An invalid state fails the test.
func (s *Server) SetConversationState(state string) int {
	n, err := s.DP.SetConversationState(state)
	if err != nil {
		s.t.Errorf("dptest: %v", err)
	}
	return n
}

// Drop mirrors POST /drop: it cuts every live control socket without a
// close message and returns how many.
func (s *Server) Drop() int { return s.DP.Drop() }

// WaitFor waits until cond holds for the session list, re-checking at every
// change on the server (no polling, no sleeps). On ctx's end it returns
// ctx's error with the last list seen.
func (s *Server) WaitFor(ctx context.Context, cond func([]dpsim.SessionInfo) bool) ([]dpsim.SessionInfo, error) {
	return s.DP.WaitFor(ctx, cond)
}

// WaitForSession waits until the session id (the newest record of it)
// satisfies cond, as WaitFor does, and returns the whole list then.
func (s *Server) WaitForSession(ctx context.Context, id string, cond func(dpsim.SessionInfo) bool) ([]dpsim.SessionInfo, error) {
	return s.DP.WaitFor(ctx, func(ss []dpsim.SessionInfo) bool {
		for i := len(ss) - 1; i >= 0; i-- {
			if ss[i].ID == id {
				return cond(ss[i])
			}
		}
		return false
	})
}

// Close shuts the server down; it returns once all its goroutines have ended.
func (s *Server) Close() {
	s.once.Do(func() { _ = s.DP.Close() })
}

// LoopbackSettingEngine returns a pion SettingEngine for the kiosk side of
// a test: UDP over 127.0.0.1 only, no mDNS.
func LoopbackSettingEngine() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// testHandler logs to t.Log until the test's cleanup has run.
type testHandler struct {
	t     testing.TB
	level slog.Level
	attrs []slog.Attr
	mu    *sync.Mutex
	done  *bool
}

func (h *testHandler) stop() {
	h.mu.Lock()
	*h.done = true
	h.mu.Unlock()
}

func (h *testHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *testHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if *h.done {
		return nil
	}
	line := "dpsim: " + r.Level.String() + " " + r.Message
	add := func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.t.Log(line)
	return nil
}

func (h *testHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *testHandler) WithGroup(string) slog.Handler { return h }
