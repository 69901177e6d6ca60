package dptest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/dpwire"
)

// NewServer runs dpsim on loopback with a random token of a real secret's
// length, its control endpoint and admin API answering, and Cleanup
// closes it: nothing answers on its port afterwards.
func TestNewServer(t *testing.T) {
	var url string
	t.Run("running", func(t *testing.T) {
		dp := dptest.NewServer(t, dpsim.Config{})
		url = dp.URL
		if len(dp.Token) < 16 {
			t.Errorf("token of %d characters", len(dp.Token))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h := http.Header{}
		h.Set("Authorization", "Bearer "+dp.Token)
		ws, resp, err := (&websocket.Dialer{Subprotocols: []string{dpwire.Subprotocol}}).DialContext(ctx, dp.URL, h)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		resp.Body.Close()
		ws.Close()
		r, err := http.Get(dp.AdminURL + "/sessions")
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("admin API: %v %v", r, err)
		}
		r.Body.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := (&websocket.Dialer{}).DialContext(ctx, url, nil); err == nil {
		t.Fatal("the server still answers after its test ended")
	}
}
