//go:build livekit

package livekit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/livekit"
	"github.com/kioskd/kioskd/dialect/livekit/livekittest"
	"github.com/kioskd/kioskd/internal/testlog"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/rtc"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/session/sessiontest"
)

// sink counts what the kiosk receives of the Digital Person, and the
// longest gap between two of its voice's packets since Mark.
type sink struct {
	audio, video atomic.Uint64

	mu        sync.Mutex
	lastAudio time.Time
	maxGap    time.Duration
}

func (s *sink) HandleTrack(ctx context.Context, tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	for ctx.Err() == nil {
		if _, _, err := tr.ReadRTP(); err != nil {
			return
		}
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			s.audio.Add(1)
			now := time.Now()
			s.mu.Lock()
			if !s.lastAudio.IsZero() {
				s.maxGap = max(s.maxGap, now.Sub(s.lastAudio))
			}
			s.lastAudio = now
			s.mu.Unlock()
		} else {
			s.video.Add(1)
		}
	}
}

// Mark starts measuring the longest gap in the DP's voice anew.
func (s *sink) Mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxGap, s.lastAudio = 0, time.Now()
}

// MaxGap is the longest gap in the DP's voice since Mark.
func (s *sink) MaxGap() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxGap
}

// waitAudio waits until the kiosk has received n more of the DP's voice
// packets than it had.
func (s *sink) waitAudio(t *testing.T, ctx context.Context, n uint64) {
	t.Helper()
	want := s.audio.Load() + n
	for s.audio.Load() < want {
		select { // polling: the sink signals nothing
		case <-ctx.Done():
			t.Fatalf("the kiosk received %d of %d audio packets of the DP", s.audio.Load(), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTap records the kiosk's log lines (their messages and attributes)
// beside writing them to the test's log, for the facts only a log line
// states (a resume's took_ms).
type logTap struct {
	slog.Handler
	st *tapState
}

type tapState struct {
	mu      sync.Mutex
	lines   []tapLine
	changed chan struct{}
}

type tapLine struct {
	Msg   string
	Attrs map[string]slog.Value
}

func newLogTap(h slog.Handler) *logTap {
	return &logTap{Handler: h, st: &tapState{changed: make(chan struct{})}}
}

func (l *logTap) Handle(ctx context.Context, r slog.Record) error {
	line := tapLine{Msg: r.Message, Attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool { line.Attrs[a.Key] = a.Value; return true })
	l.st.mu.Lock()
	l.st.lines = append(l.st.lines, line)
	close(l.st.changed)
	l.st.changed = make(chan struct{})
	l.st.mu.Unlock()
	return l.Handler.Handle(ctx, r)
}

func (l *logTap) WithAttrs(as []slog.Attr) slog.Handler {
	return &logTap{Handler: l.Handler.WithAttrs(as), st: l.st}
}

func (l *logTap) WithGroup(g string) slog.Handler {
	return &logTap{Handler: l.Handler.WithGroup(g), st: l.st}
}

// count is how many lines so far have msg.
func (l *logTap) count(msg string) int {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	n := 0
	for _, ln := range l.st.lines {
		if ln.Msg == msg {
			n++
		}
	}
	return n
}

// has says whether a line with msg has attribute key with value val.
func (l *logTap) has(msg, key, val string) bool {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	for _, ln := range l.st.lines {
		if v, ok := ln.Attrs[key]; ok && ln.Msg == msg && v.String() == val {
			return true
		}
	}
	return false
}

// wait waits for the n-th line with msg and returns it.
func (l *logTap) wait(t *testing.T, ctx context.Context, msg string, n int) tapLine {
	t.Helper()
	for {
		l.st.mu.Lock()
		ch, seen := l.st.changed, 0
		for _, ln := range l.st.lines {
			if ln.Msg == msg {
				if seen++; seen == n {
					l.st.mu.Unlock()
					return ln
				}
			}
		}
		l.st.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no log line %q (#%d)", msg, n)
		}
	}
}

type kiosk struct {
	d      *livekit.Dialect
	log    *logTap
	sup    *session.Supervisor
	rec    *sessiontest.Recorder
	sink   *sink
	cancel context.CancelFunc
	done   chan struct{}
}

type opt func(*session.Config, *livekit.Config)

// startKiosk runs a supervisor with the livekit dialect against url, with
// small synthetic media, until the test ends.
func startKiosk(t *testing.T, url, token string, opts ...opt) *kiosk {
	t.Helper()
	return startKioskIn(t, "", url, token, opts...)
}

// startKioskIn is startKiosk with its session stored in storeDir ("": a
// directory of its own): a second kiosk on the same directory is the
// first one restarted.
func startKioskIn(t *testing.T, storeDir, url, token string, opts ...opt) *kiosk {
	t.Helper()
	cfg := session.Config{
		Resume:      true,
		StepTimeout: 20 * time.Second, ConnectTimeout: 40 * time.Second,
		InitialDelay: 50 * time.Millisecond, MaxDelay: 400 * time.Millisecond,
	}
	lk := livekit.Config{URL: url, Token: token}
	for _, f := range opts {
		f(&cfg, &lk)
	}

	d, err := livekit.New(lk)
	if err != nil {
		t.Fatal(err)
	}
	src := media.NewSource(media.Config{Camera: "test", Width: 160, Height: 120, FPS: 10, Microphone: "test"}, nil)
	k := &kiosk{d: d, sink: &sink{}, done: make(chan struct{}), log: newLogTap(testlog.New(t, slog.LevelInfo).Handler())}
	if storeDir == "" {
		storeDir = t.TempDir()
	}
	sup, err := session.New(cfg, d, session.Options{
		Media: src, Sink: k.sink, Store: session.NewStore(storeDir),
		Log: slog.New(k.log), Rand: func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	k.sup, k.rec = sup, sessiontest.Record(sup)
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	go func() {
		defer close(k.done)
		_ = sup.Run(ctx)
		src.Close()
	}()
	t.Cleanup(func() { k.cancel(); <-k.done })
	return k
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func count(evs []contract.Event, f func(contract.Event) bool) int {
	n := 0
	for _, e := range evs {
		if f(e) {
			n++
		}
	}
	return n
}

func isConnected(e contract.Event) bool {
	return e.Kind == contract.EventState && e.State == contract.Connected
}

func connected(n int) func([]contract.Event) bool {
	return func(evs []contract.Event) bool { return count(evs, isConnected) >= n }
}

func percentages(evs []contract.Event) []int {
	var p []int
	for _, e := range evs {
		if e.Kind == contract.EventState {
			p = append(p, e.State.Percentage())
		}
	}
	return p
}

func eq(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A kiosk that joins before the Digital Person reports 25 (in the room),
// then 50, 75, 100 as the DP arrives, publishes and its voice and face
// arrive; the session id is the room's name. Media flows both ways: the DP
// gets the kiosk's Opus packets and VP8 frames, the kiosk the DP's voice.
// The DP leaving ends the conversation (conversationEnded), and the kiosk
// starts a fresh session at once, Connected again when a DP is back.
func TestStatesMediaAndConversationEnded(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-states"
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	k.rec.WaitFor(t, ctx, "SearchingForDigitalPerson", func(evs []contract.Event) bool {
		return count(evs, func(e contract.Event) bool {
			return e.Kind == contract.EventState && e.State == contract.SearchingForDigitalPerson
		}) == 1
	})
	dp := srv.JoinDP(t, room, "dp-1")
	evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if got := percentages(evs); !eq(got, []int{25, 50, 75, 100}) {
		t.Fatalf("percentages %v, want [25 50 75 100]\n%s", got, sessiontest.Describe(evs))
	}
	if id := evs[len(evs)-1].SessionID; id != room {
		t.Fatalf("session id %q, want the room %q", id, room)
	}
	if r, ok := dp.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets >= 20 && r.VideoFrames >= 3 }); !ok {
		t.Fatalf("the DP received %+v of the kiosk's media", r)
	}
	for k.sink.audio.Load() < 20 {
		select { // polling: the sink signals nothing
		case <-ctx.Done():
			t.Fatalf("the kiosk received %d audio packets of the DP", k.sink.audio.Load())
		case <-time.After(20 * time.Millisecond):
		}
	}

	dp.Leave()
	evs = k.rec.WaitFor(t, ctx, "conversationEnded", func(evs []contract.Event) bool {
		return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventDisconnected }) == 1
	})
	var disc contract.Event
	for _, e := range evs {
		if e.Kind == contract.EventDisconnected {
			disc = e
		}
	}
	if disc.Reason != contract.ReasonConversationEnded {
		t.Fatalf("DP left: %v, want conversationEnded\n%s", disc.Reason, sessiontest.Describe(evs))
	}
	srv.JoinDP(t, room, "dp-2")
	evs = k.rec.WaitFor(t, ctx, "Connected again", connected(2))
	last := evs[len(evs)-1]
	if last.Resumed || last.SessionID != room {
		t.Fatalf("after conversationEnded: session %q resumed %v, want a fresh session in %q\n%s", last.SessionID, last.Resumed, room, sessiontest.Describe(evs))
	}
	for _, e := range evs {
		if e.Kind == contract.EventRetry && e.Delay > 0 && e.Time.After(disc.Time) {
			t.Fatalf("conversationEnded waited %v; docs/BEHAVIOUR.md section 3 says at once\n%s", e.Delay, sessiontest.Describe(evs))
		}
	}
}

// A DP already in the room comes in the join response: the kiosk goes
// straight through the steps.
func TestDPAlreadyInTheRoom(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-early"
	srv.JoinDP(t, room, "dp-early")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if got := percentages(evs); !eq(got, []int{25, 50, 75, 100}) {
		t.Fatalf("percentages %v, want [25 50 75 100]\n%s", got, sessiontest.Describe(evs))
	}
}

// cutProxy forwards TCP to upstream and cuts every open connection on Cut;
// it counts the connections it accepted. With refuseResume set it closes
// a connection whose HTTP request asks for LiveKit's resume
// (reconnect=1), so that only a rejoin gets through.
type cutProxy struct {
	l            net.Listener
	upstream     string
	accepted     atomic.Int64
	resumes      atomic.Int64 // requests with reconnect=1
	refuseResume atomic.Bool
	mu           sync.Mutex
	conns        []net.Conn
}

func newCutProxy(t *testing.T, upstream string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, upstream: upstream}
	t.Cleanup(func() { _ = l.Close(); p.Cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() {
				// The request line comes in the first segment.
				buf := make([]byte, 4096)
				n, err := c.Read(buf)
				if strings.Contains(string(buf[:n]), "reconnect=1") {
					p.resumes.Add(1)
					if p.refuseResume.Load() {
						_ = c.Close()
						_ = u.Close()
						return
					}
				}
				if err != nil {
					_ = u.Close()
					return
				}
				if _, err := u.Write(buf[:n]); err != nil {
					return
				}
				_, _ = io.Copy(u, c)
				_ = u.Close()
			}()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) URL() string { return "ws://" + p.l.Addr().String() }

func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// A token the server refuses is serverConnectionFailed, said so in the
// cause, and retried with backoff: the dials are as many as the attempts.
func TestRefusedTokenBacksOff(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv := livekittest.Start(t)
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "ws://"))
	good := livekittest.Token(t, "lobby-refused", "kiosk-1", false)
	parts := strings.Split(good, ".")
	bad := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])) // the signature of another secret
	k := startKiosk(t, proxy.URL(), bad)
	evs := k.rec.WaitFor(t, ctx, "three failures", func(evs []contract.Event) bool {
		return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) >= 3
	})
	var delays []time.Duration
	for _, e := range evs {
		switch e.Kind {
		case contract.EventConnectFailed:
			if e.ErrorName != contract.ServerConnectionFailed || e.ErrorDetail != contract.DetailUnauthorized || !errors.Is(e.Cause, livekit.ErrTokenRefused) {
				t.Fatalf("refused token: %v (%v, %v), want serverConnectionFailed (unauthorized) saying the token was refused\n%s", e.ErrorName, e.ErrorDetail, e.Cause, sessiontest.Describe(evs))
			}
		case contract.EventRetry:
			delays = append(delays, e.Delay)
		case contract.EventState:
			if e.State != contract.Disconnected {
				t.Fatalf("a refused token reached %v\n%s", e.State, sessiontest.Describe(evs))
			}
		}
	}
	if len(delays) < 2 || delays[0] <= 0 || delays[1] <= 0 {
		t.Fatalf("retries without backoff: %v\n%s", delays, sessiontest.Describe(evs))
	}
	// Each attempt dials the server once (the 401 of the join itself says
	// why it failed): no hidden retries. +1: an attempt under way.
	failures := count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed })
	if n := proxy.accepted.Load(); n > int64(failures+1) {
		t.Fatalf("%d connections for %d attempts", n, failures)
	}
}

// A Digital Person that never joins is sessionTimeout, from the
// supervisor's step deadline, whatever the dialect.
func TestDPNeverJoinsIsSessionTimeout(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv := livekittest.Start(t)
	k := startKiosk(t, srv.URL, livekittest.Token(t, "lobby-empty", "kiosk-1", false), func(c *session.Config, _ *livekit.Config) {
		c.StepTimeout = 2 * time.Second
	})
	evs := k.rec.WaitFor(t, ctx, "sessionTimeout", func(evs []contract.Event) bool {
		return count(evs, func(e contract.Event) bool { return e.Kind == contract.EventConnectFailed }) >= 1
	})
	for _, e := range evs {
		if e.Kind == contract.EventConnectFailed && e.ErrorName != contract.SessionTimeout {
			t.Fatalf("no DP: %v, want sessionTimeout\n%s", e.ErrorName, sessiontest.Describe(evs))
		}
	}
}

// The token's room decides; a room in the config must agree with it.
func TestNewChecksTheTokensRoom(t *testing.T) {
	tok := livekittest.Token(t, "lobby-a", "kiosk-1", false)
	if _, err := livekit.New(livekit.Config{URL: "ws://127.0.0.1:1", Token: tok, Room: "lobby-b"}); !errors.Is(err, livekit.ErrRoomNeqJWT) {
		t.Fatalf("room lobby-b with a token for lobby-a: %v", err)
	}
	d, err := livekit.New(livekit.Config{URL: "ws://127.0.0.1:1", Token: tok})
	if err != nil || d.Room() != "lobby-a" {
		t.Fatalf("room %q, %v; want the token's", d.Room(), err)
	}
	if _, err := livekit.New(livekit.Config{URL: "ws://127.0.0.1:1", Token: "not-a-jwt-but-long-enough"}); !errors.Is(err, livekit.ErrBadToken) || strings.Contains(err.Error(), "not-a-jwt") {
		t.Fatalf("bad token: %v", err)
	}
}

// WebRTC that cannot connect while connecting (here: relay forced, and no
// TURN server anywhere, so no candidate pair can form) is mediaStreamFailed,
// retried with backoff, never Connected: the row "the publisher or
// subscriber PeerConnection fails" of docs/LIVEKIT.md's mapping.
func TestPeerConnectionFailureIsMediaStreamFailed(t *testing.T) {
	ctx := testCtx(t, 90*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-noice"
	srv.JoinDP(t, room, "dp-1")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false), func(_ *session.Config, lk *livekit.Config) {
		lk.Peer = rtc.PeerOptions{RelayOnly: true, ICEDisconnectedTimeout: time.Second, ICEFailedTimeout: 2 * time.Second}
	})
	evs := k.rec.WaitFor(t, ctx, "two failed attempts", func(evs []contract.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Kind == contract.EventConnectFailed {
				n++
			}
		}
		return n >= 2
	})
	for _, e := range evs {
		if e.Kind == contract.EventConnectFailed && e.ErrorName != contract.MediaStreamFailed {
			t.Fatalf("an attempt failed as %s; want mediaStreamFailed\n%s", e.ErrorName, sessiontest.Describe(evs))
		}
		if isConnected(e) {
			t.Fatalf("Connected without a candidate pair\n%s", sessiontest.Describe(evs))
		}
	}
	if count(evs, func(e contract.Event) bool { return e.Kind == contract.EventRetry }) < 1 {
		t.Fatalf("no retry with backoff between the failures\n%s", sessiontest.Describe(evs))
	}
}

// A DP whose face is in a codec the kiosk does not receive (H.264 alone;
// kioskd receives VP8) is Connected on its voice: the kiosk's answer
// declines the face, the voice plays, a warning says why there is no
// face. Before, the call waited for a face that could never arrive and
// ended with sessionTimeout, attempt after attempt.
func TestFaceInAnotherCodecConnectsOnTheVoice(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	srv := livekittest.Start(t)
	const room = "lobby-h264"
	dp := srv.JoinDPWithH264Face(t, room, "dp-h264")
	k := startKiosk(t, srv.URL, livekittest.Token(t, room, "kiosk-1", false))
	evs := k.rec.WaitFor(t, ctx, "Connected", connected(1))
	if d := disconnects(evs); len(d) != 0 {
		t.Fatalf("disconnects %v before Connected\n%s", d, sessiontest.Describe(evs))
	}
	// The warning comes when the face's codec is known, which may be after
	// Connected (the voice published first): wait for it.
	const noFace = "the Digital Person's face is in a codec kioskd does not receive; Connected on its voice alone"
	k.log.wait(t, ctx, noFace, 1)
	k.sink.waitAudio(t, ctx, 25) // the DP's voice plays
	if n := k.log.count(noFace); n != 1 {
		t.Fatalf("%d warnings about the face kioskd cannot receive, want 1", n)
	}
	if _, ok := dp.WaitReceived(ctx, func(r livekittest.Received) bool { return r.AudioPackets > 25 && r.VideoFrames > 5 }); !ok {
		t.Fatal("the DP receives nothing of the kiosk")
	}
}
