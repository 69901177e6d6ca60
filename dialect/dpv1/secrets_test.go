package dpv1_test

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/dialect/dpv1"
)

// echoingServer completes a WebSocket upgrade choosing subprotocol, as a
// hostile server may (gorilla's Upgrader would not let a test do that).
func echoingServer(t *testing.T, subprotocol string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
					base64.StdEncoding.EncodeToString(h[:]), subprotocol)
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/v1/session"
}

// A server that echoes the token as the subprotocol it chose does not get
// it, or any escaped or truncated form of it, into the dial's error (which
// is logged).
func TestSubprotocolEchoNeverInError(t *testing.T) {
	token := `tok"en\with-quote-0123456789`
	url := echoingServer(t, token)
	_, err := (&dpv1.WebSocket{}).Dial(ctxFor(t, 30*time.Second), dpv1.DialConfig{URL: url + "?access_token=" + token, Token: token})
	if !errors.Is(err, dpv1.ErrVersion) {
		t.Fatalf("dial: %v, want ErrVersion", err)
	}
	quoted := strconv.Quote(token)
	for _, part := range []string{token, quoted[1 : len(quoted)-1], "tok", "with-quote"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("the error %q shows %q", err, part)
		}
	}
}

// An unreachable server's error names its URL without the query, user
// info or fragment that may carry a secret.
func TestDialErrorURLHasNoSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	const secret = "S3cr3t-in-the-url-0123"
	_, err = (&dpv1.WebSocket{}).Dial(ctxFor(t, 30*time.Second), dpv1.DialConfig{URL: "ws://u:" + secret + "@" + addr + "/v1?access_token=" + secret + "#" + secret})
	if !errors.Is(err, dpv1.ErrDial) {
		t.Fatalf("dial: %v, want ErrDial", err)
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "ws://"+addr+"/v1") {
		t.Errorf("the error %q: want the URL without its secrets", err)
	}
}
