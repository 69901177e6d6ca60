package dpv1_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
)

// The client's WebSocket against dpsim, the reference server of
// docs/PROTOCOL.md: how it reports a refused token, hostile frames, a cut
// socket and a silent server. (These checks were part of dpsim's tests,
// which no longer use the client's code.)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// open dials dp and says hello; onIgnored may be nil.
func open(t *testing.T, ctx context.Context, dp *dptest.Server, d *dpv1.WebSocket, onIgnored func(error)) dpv1.Conn {
	t.Helper()
	conn, err := d.Dial(ctx, dpv1.DialConfig{URL: dp.URL, Token: dp.Token, OnIgnored: onIgnored})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.Send(dpwire.Hello{Client: dpwire.ClientInfo{Name: "signalling-test", Version: "0"}}); err != nil {
		t.Fatalf("hello: %v", err)
	}
	return conn
}

// until reads until f holds for a message (true) or the channel ends
// (false, with its error); it takes the heartbeat the server names.
func until(t *testing.T, ctx context.Context, conn dpv1.Conn, f func(dpwire.Message) bool) (bool, error) {
	t.Helper()
	for {
		select {
		case m, ok := <-conn.Incoming():
			if !ok {
				return false, conn.Err()
			}
			if s, ok := m.(dpwire.Session); ok && s.HeartbeatMS > 0 {
				conn.SetHeartbeat(time.Duration(s.HeartbeatMS) * time.Millisecond)
			}
			if f(m) {
				return true, nil
			}
		case <-ctx.Done():
			t.Fatalf("waiting: %v", ctx.Err())
		}
	}
}

func never(dpwire.Message) bool { return false }

func isType(typ string) func(dpwire.Message) bool {
	return func(m dpwire.Message) bool { return m.MessageType() == typ }
}

func TestDialRefusedToken(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	ctx := ctxFor(t, 10*time.Second)
	d := &dpv1.WebSocket{}
	for _, token := range []string{"wrong", ""} {
		if _, err := d.Dial(ctx, dpv1.DialConfig{URL: dp.URL, Token: token}); !errors.Is(err, dpv1.ErrUnauthorized) {
			t.Fatalf("token %q: %v, want ErrUnauthorized", token, err)
		}
	}
	conn, err := d.Dial(ctx, dpv1.DialConfig{URL: dp.URL, Token: dp.Token})
	if err != nil {
		t.Fatalf("the right token: %v", err)
	}
	_ = conn.Close()
}

func TestHostileFrames(t *testing.T) {
	for _, c := range []struct {
		mode    dpsim.HostileMode
		wantErr error
	}{
		{dpsim.HostileMalformed, dpwire.ErrMalformed},
		{dpsim.HostileOversized, dpwire.ErrTooLarge},
		{dpsim.HostileUnknownType, nil},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.Scenario{Hostile: dpsim.Always,
				HostileModes: []dpsim.HostileMode{c.mode}, ConnectingDelay: time.Hour}})
			ctx := ctxFor(t, 10*time.Second)
			ignored := make(chan error, 16)
			conn := open(t, ctx, dp, &dpv1.WebSocket{}, func(err error) {
				select {
				case ignored <- err:
				default:
				}
			})
			if c.wantErr != nil {
				if _, err := until(t, ctx, conn, never); !errors.Is(err, c.wantErr) {
					t.Fatalf("got %v, want %v", err, c.wantErr)
				}
				return
			}
			// Frames of an unknown type are ignored; the connect goes on.
			isConnecting := func(m dpwire.Message) bool {
				p, ok := m.(dpwire.Progress)
				return ok && p.State == "ConnectingToDigitalPerson"
			}
			if ok, err := until(t, ctx, conn, isConnecting); !ok {
				t.Fatalf("ended before ConnectingToDigitalPerson: %v", err)
			}
			select {
			case err := <-ignored:
				if !errors.Is(err, dpwire.ErrUnknownType) {
					t.Fatalf("ignored %v", err)
				}
			default:
				t.Fatal("no frame of unknown type reached OnIgnored")
			}
		})
	}
}

func TestSocketCutIsPeerGone(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	ctx := ctxFor(t, 10*time.Second)
	conn := open(t, ctx, dp, &dpv1.WebSocket{}, nil)
	if ok, err := until(t, ctx, conn, isType("session")); !ok {
		t.Fatalf("no session: %v", err)
	}
	if n := dp.Drop(); n != 1 {
		t.Fatalf("Drop() = %d", n)
	}
	if _, err := until(t, ctx, conn, never); !errors.Is(err, dpv1.ErrPeerGone) {
		t.Fatalf("after a cut: %v, want ErrPeerGone", err)
	}
}

func TestServerCloseThenPeerGone(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.Scenario{NoScene: dpsim.Always}})
	ctx := ctxFor(t, 10*time.Second)
	conn := open(t, ctx, dp, &dpv1.WebSocket{}, nil)
	var got dpwire.Close
	if ok, err := until(t, ctx, conn, func(m dpwire.Message) bool {
		c, ok := m.(dpwire.Close)
		got = c
		return ok
	}); !ok {
		t.Fatalf("no close: %v", err)
	}
	if got.Reason != "noScene" {
		t.Fatalf("close %+v", got)
	}
	// The server closes the socket after its close message.
	if _, err := until(t, ctx, conn, never); !errors.Is(err, dpv1.ErrPeerGone) {
		t.Fatalf("after close: %v, want ErrPeerGone", err)
	}
}

func TestSilentServerIsPeerDead(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{Heartbeat: dpwire.MinHeartbeat, Scenario: dpsim.Scenario{
		Silence: dpsim.Always, SilenceAt: dpsim.StepSearching, ConnectTimeout: -1,
	}})
	ctx := ctxFor(t, 10*time.Second)
	conn := open(t, ctx, dp, &dpv1.WebSocket{}, nil)
	if _, err := until(t, ctx, conn, never); !errors.Is(err, dpv1.ErrPeerDead) {
		t.Fatalf("silent server: %v, want ErrPeerDead", err)
	}
}

// TestDialAbortsOnCancel: a server that accepts the TCP connection and
// never answers the upgrade. Cancelling the dial's context ends the dial
// at once with the context's error, not after the handshake timeout
// (10 s): a SIGTERM must not wait for a silent server (docs/BEHAVIOUR.md
// section 10).
func TestDialAbortsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := ln.Accept(); err == nil {
			accepted <- conn
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type dialed struct {
		conn dpv1.Conn
		err  error
	}
	done := make(chan dialed, 1)
	go func() {
		conn, err := (&dpv1.WebSocket{}).Dial(ctx, dpv1.DialConfig{URL: "ws://" + ln.Addr().String() + "/v1/session", Token: "secret-token"})
		done <- dialed{conn, err}
	}()
	guard := time.NewTimer(5 * time.Second) // a failure guard, half the handshake timeout
	defer guard.Stop()
	select {
	case conn := <-accepted:
		defer conn.Close()
		// The upgrade request arrives: from now on the dial waits for the
		// server's answer.
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			t.Fatalf("no upgrade request: %v", err)
		}
	case <-guard.C:
		t.Fatal("the dial did not connect")
	}
	cancel()
	cancelled := time.Now()
	select {
	case d := <-done:
		t.Logf("the dial returned %s after the cancel: %v", time.Since(cancelled), d.err)
		if d.conn != nil || !errors.Is(d.err, context.Canceled) || !errors.Is(d.err, dpv1.ErrDial) {
			t.Fatalf("dial: %v, %v; want an ErrDial wrapping context.Canceled", d.conn, d.err)
		}
		if strings.Contains(d.err.Error(), "secret-token") {
			t.Fatalf("the error shows the token: %v", d.err)
		}
	case <-guard.C:
		t.Fatal("the dial goes on after its context was cancelled")
	}
}

// TestSendGivesUpOnAPeerThatReadsNothing: a server that upgrades and then
// reads nothing. Once the socket's buffers and the send queue are full,
// Send gives up within its deadline (a second) and ends the channel, and
// Close returns at once: a shutdown (close normal, then Close) never
// waits out the 10 s write timeout.
func TestSendGivesUpOnAPeerThatReadsNothing(t *testing.T) {
	up := websocket.Upgrader{Subprotocols: []string{dpwire.Subprotocol}}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		<-release // reads nothing
	}))
	defer srv.Close()
	defer close(release)
	ctx := ctxFor(t, 10*time.Second)
	conn, err := (&dpv1.WebSocket{}).Dial(ctx, dpv1.DialConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/session"})
	if err != nil {
		t.Fatal(err)
	}
	big := dpwire.Offer{SDP: strings.Repeat("a", dpwire.MaxFrameSize-100)}
	done := make(chan error, 1)
	go func() {
		for {
			if err := conn.Send(big); err != nil {
				done <- err
				return
			}
		}
	}()
	guard := time.NewTimer(5 * time.Second) // a failure guard, half the write timeout
	defer guard.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, dpv1.ErrPeerGone) {
			t.Fatalf("Send: %v, want ErrPeerGone", err)
		}
	case <-guard.C:
		t.Fatal("Send blocks on a peer that reads nothing")
	}
	closed := make(chan struct{})
	go func() { _ = conn.Close(); close(closed) }()
	select {
	case <-closed:
	case <-guard.C:
		t.Fatal("Close blocks on a peer that reads nothing")
	}
}
