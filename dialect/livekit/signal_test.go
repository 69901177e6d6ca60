package livekit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protowire"
)

// fakeServer answers /rtc with the handshake checks of a LiveKit server and
// then runs serve on the connection.
func fakeServer(t *testing.T, serve func(ws *websocket.Conn, r *http.Request)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/prefix/rtc" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Bearer secret-token" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		serve(ws, r)
	}))
	t.Cleanup(srv.Close)
	return "http://" + strings.TrimPrefix(srv.URL, "http://") + "/prefix/"
}

// joinMsg is a SignalResponse with a join response naming room, and the
// ping interval and timeout in seconds.
func joinMsg(room string, interval, timeout uint64) []byte {
	var rm []byte
	rm = appendString(rm, 2, room)
	var j []byte
	j = appendMessage(j, 1, rm)
	j = appendVarint(j, 10, timeout)
	j = appendVarint(j, 11, interval)
	return appendMessage(nil, 1, j)
}

// The token travels in the Authorization header, never in the URL; the
// query names the protocol; a silent server is found by the ping timeout,
// and kioskd pinged it meanwhile.
func TestSignalTokenHeaderAndPingTimeout(t *testing.T) {
	pinged := make(chan struct{}, 1)
	query := make(chan string, 1)
	u := fakeServer(t, func(ws *websocket.Conn, r *http.Request) {
		query <- r.URL.RawQuery
		_ = ws.WriteMessage(websocket.BinaryMessage, joinMsg("lobby", 1, 2))
		for { // read pings, answer nothing
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if n, typ, _ := protowire.ConsumeTag(b); n == reqPing && typ == protowire.VarintType {
				select {
				case pinged <- struct{}{}:
				default:
				}
			}
		}
	})
	ctx := t.Context()
	s, j, err := dialSignal(ctx, u, "secret-token", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if j.RoomName != "lobby" || j.PingIntervalSecond != 1 || j.PingTimeoutSeconds != 2 {
		t.Fatalf("join %+v", j)
	}
	q := <-query
	if strings.Contains(q, "secret") || !strings.Contains(q, "protocol="+protocolVersion) || !strings.Contains(q, "auto_subscribe=1") {
		t.Fatalf("query %q", q)
	}
	s.start(secs(j.PingIntervalSecond), secs(j.PingTimeoutSeconds))
	select {
	case <-pinged:
	case <-time.After(5 * time.Second):
		t.Fatal("no ping within 5 s (interval 1 s)")
	}
	drained := make(chan struct{})
	go func() {
		for range s.In() {
		}
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the signal channel of a silent server is still open after 10 s (timeout 2 s)")
	}
	if err := s.Err(); !errors.Is(err, ErrPingTimeout) {
		t.Fatalf("a silent server: %v, want ErrPingTimeout", err)
	}
}

// A refused token is ErrTokenRefused, whose text has no token in it; a
// first message that is no join response is ErrNoJoin.
func TestSignalRefusedAndNoJoin(t *testing.T) {
	u := fakeServer(t, func(ws *websocket.Conn, _ *http.Request) {
		_ = ws.WriteMessage(websocket.BinaryMessage, reqLeaveMsg(leaveMsg{Reason: JoinFailure})) // field 8 of a SignalResponse is leave too
	})
	_, _, err := dialSignal(context.Background(), u, "wrong-token", nil, 5*time.Second)
	if !errors.Is(err, ErrTokenRefused) || strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("refused: %v", err)
	}
	_, _, err = dialSignal(context.Background(), u, "secret-token", nil, 5*time.Second)
	if !errors.Is(err, ErrNoJoin) || !strings.Contains(err.Error(), "JOIN_FAILURE") {
		t.Fatalf("a leave instead of the join: %v", err)
	}
}

func TestRTCURL(t *testing.T) {
	for in, want := range map[string]string{
		"wss://lk.example.com":            "wss://lk.example.com/rtc?",
		"https://user:pw@lk.example.com/": "wss://lk.example.com/rtc?",
		"ws://127.0.0.1:7880/base":        "ws://127.0.0.1:7880/base/rtc?",
	} {
		got, err := rtcURL(in, nil)
		if err != nil || !strings.HasPrefix(got, want) {
			t.Errorf("%s: %s, %v; want %s…", in, got, err, want)
		}
	}
	if _, err := rtcURL("ftp://x", nil); err == nil {
		t.Error("ftp accepted")
	}
	// A resume names the participant it resumes, as LiveKit's SDKs do.
	got, err := rtcURL("ws://127.0.0.1:7880", &resumeQuery{SID: "PA_k", Reason: reconnectNetworkChange})
	if err != nil || !strings.Contains(got, "reconnect=1") || !strings.Contains(got, "sid=PA_k") || !strings.Contains(got, "reconnect_reason=4") {
		t.Errorf("resume URL %s, %v", got, err)
	}
	if got, _ := rtcURL("ws://127.0.0.1:7880", nil); strings.Contains(got, "reconnect") {
		t.Errorf("join URL asks to resume: %s", got)
	}
}

// server.ca_file reaches the WebSocket: a wss:// server signed by a
// private CA is refused with the system roots and joined with that CA.
func TestSignalPrivateCA(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.WriteMessage(websocket.BinaryMessage, joinMsg("tls-room", 0, 0))
		_, _, _ = ws.ReadMessage()
	}))
	defer srv.Close()
	u := "wss://" + strings.TrimPrefix(srv.URL, "https://")
	if _, _, err := dialSignal(t.Context(), u, "t", nil, 5*time.Second); err == nil {
		t.Fatal("joined a server of a private CA with the system roots")
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s, j, err := dialSignal(t.Context(), u, "t", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.start(0, 0)
	s.Close()
	if j.RoomName != "tls-room" {
		t.Fatalf("join %+v", j)
	}
}

// A resume asks for the participant by its SID and takes the server's
// ReconnectResponse; a server that no longer has the participant answers
// with a leave (ErrNoReconnect); a join of a room that does not exist
// (room.auto_create off) is ErrRoomNotFound.
func TestSignalResume(t *testing.T) {
	u := fakeServer(t, func(ws *websocket.Conn, r *http.Request) {
		var rr []byte
		rr = appendMessage(rr, 1, appendString(nil, 1, "stun:s"))
		switch r.URL.Query().Get("sid") {
		case "PA_known":
			_ = ws.WriteMessage(websocket.BinaryMessage, appendMessage(nil, 19, rr))
		default:
			_ = ws.WriteMessage(websocket.BinaryMessage, reqLeaveMsg(leaveMsg{Reason: StateMismatch, Action: leaveReconnect}))
		}
		_, _, _ = ws.ReadMessage()
	})
	s, rr, err := dialResume(t.Context(), u, "secret-token", nil, 5*time.Second, resumeQuery{SID: "PA_known", Reason: reconnectSignalLost})
	if err != nil || len(rr.ICEServers) != 1 || rr.ICEServers[0].URLs[0] != "stun:s" {
		t.Fatalf("resume: %+v, %v", rr, err)
	}
	s.Close()
	if _, _, err := dialResume(t.Context(), u, "secret-token", nil, 5*time.Second, resumeQuery{SID: "PA_gone"}); !errors.Is(err, ErrNoReconnect) || !strings.Contains(err.Error(), "STATE_MISMATCH") {
		t.Fatalf("resume of a participant the server lost: %v", err)
	}
	// A join response where a reconnect response is due is no resume.
	j := fakeServer(t, func(ws *websocket.Conn, _ *http.Request) {
		_ = ws.WriteMessage(websocket.BinaryMessage, joinMsg("lobby", 1, 2))
		_, _, _ = ws.ReadMessage()
	})
	if _, _, err := dialResume(t.Context(), j, "secret-token", nil, 5*time.Second, resumeQuery{SID: "PA_known"}); !errors.Is(err, ErrNoReconnect) {
		t.Fatalf("a join response to a resume: %v", err)
	}
	nf := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(nf.Close)
	if _, _, err := dialSignal(t.Context(), nf.URL, "secret-token", nil, 5*time.Second); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("HTTP 404: %v", err)
	}
}
