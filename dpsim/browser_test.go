package dpsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
)

// A client that can do only what a browser can (no Authorization header:
// the token rides in a subprotocol entry; an Origin header; close codes
// 1000 and 4000-4999) reaches Connected with real WebRTC media, when the
// server allows its page's origin (docs/PROTOCOL.md section 2.3).
func TestBrowserClientConnects(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{AllowedOrigins: []string{browserOrigin}})
	ctx := ctxFor(t, 20*time.Second)
	k := dialKiosk(t, dp, kioskOpts{ToneHz: 440, Video: true, Browser: true})
	if err := k.connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	waitSession(t, ctx, dp, k.id(), "media from the browser client", func(s dpsim.SessionInfo) bool {
		return s.Audio.Packets > 0 && s.Video.Frames > 0
	})
}

// What the server refuses at a browser's upgrade, and that it never
// selects (echoes) the token's entry.
func TestBrowserUpgrade(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{AllowedOrigins: []string{browserOrigin}})
	ctx := ctxFor(t, 10*time.Second)
	dial := func(h http.Header, protocols []string) (*websocket.Conn, int) {
		ws, resp, err := (&websocket.Dialer{Subprotocols: protocols}).DialContext(ctx, dp.URL, h)
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { ws.Close() })
		return ws, http.StatusSwitchingProtocols
	}

	h, protocols := browserRequest(dp.Token)
	ws, code := dial(h, protocols)
	if code != http.StatusSwitchingProtocols || ws.Subprotocol() != dpwire.Subprotocol {
		t.Fatalf("a browser with the right token: %d, subprotocol %q", code, ws.Subprotocol())
	}

	wrongOrigin := h.Clone()
	wrongOrigin.Set("Origin", "https://evil.example")
	if _, code := dial(wrongOrigin, protocols); code != http.StatusForbidden {
		t.Errorf("another origin: %d, want 403", code)
	}
	_, wrong := browserRequest("wrong-token-0123456789")
	if _, code := dial(h, wrong); code != http.StatusUnauthorized {
		t.Errorf("a wrong token in the subprotocol: %d, want 401", code)
	}
	if _, code := dial(h, []string{dpwire.Subprotocol, dpwire.BearerProtocolPrefix + "!!"}); code != http.StatusUnauthorized {
		t.Errorf("an undecodable token entry: %d, want 401", code)
	}
	// Both carriers: both must be right.
	both := bearer(dp.Token)
	if _, code := dial(both, wrong); code != http.StatusUnauthorized {
		t.Errorf("right header, wrong subprotocol token: %d, want 401", code)
	}
	if ws, code := dial(both, protocols); code != http.StatusSwitchingProtocols || ws.Subprotocol() != dpwire.Subprotocol {
		t.Errorf("both carriers right: %d", code)
	}
	// A kiosk sends no Origin and needs no allowed origin.
	noOrigin := dptest.NewServer(t, dpsim.Config{})
	if ws, resp, err := (&websocket.Dialer{Subprotocols: []string{dpwire.Subprotocol}}).DialContext(ctx, noOrigin.URL, bearer(noOrigin.Token)); err != nil {
		t.Errorf("a kiosk without Origin: %v", err)
	} else {
		resp.Body.Close()
		ws.Close()
	}
}
