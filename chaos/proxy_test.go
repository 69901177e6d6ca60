package chaos

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestReadFrame(t *testing.T) {
	mk := func(fin bool, op byte, payload []byte, mask []byte) []byte {
		var b bytes.Buffer
		h := op
		if fin {
			h |= 0x80
		}
		b.WriteByte(h)
		m := byte(0)
		if mask != nil {
			m = 0x80
		}
		switch n := len(payload); {
		case n < 126:
			b.WriteByte(m | byte(n))
		case n < 1<<16:
			b.WriteByte(m | 126)
			_ = binary.Write(&b, binary.BigEndian, uint16(n))
		default:
			b.WriteByte(m | 127)
			_ = binary.Write(&b, binary.BigEndian, uint64(n))
		}
		p := append([]byte(nil), payload...)
		if mask != nil {
			b.Write(mask)
			for i := range p {
				p[i] ^= mask[i%4]
			}
		}
		b.Write(p)
		return b.Bytes()
	}
	big := bytes.Repeat([]byte("x"), 70000)
	cases := []struct {
		name    string
		frame   []byte
		payload []byte
		fin     bool
		op      byte
	}{
		{"short text", mk(true, 1, []byte(`{"type":"ready"}`), nil), []byte(`{"type":"ready"}`), true, 1},
		{"16-bit length", mk(true, 1, big[:300], nil), big[:300], true, 1},
		{"64-bit length", mk(true, 1, big, nil), big, true, 1},
		{"masked", mk(false, 1, []byte("hello"), []byte{1, 2, 3, 4}), []byte("hello"), false, 1},
		{"close", mk(true, 8, []byte{3, 232}, nil), []byte{3, 232}, true, 8},
	}
	for _, c := range cases {
		r := bufio.NewReader(bytes.NewReader(append(c.frame, 0x81, 0)))
		frame, payload, fin, op, err := readFrame(r)
		if err != nil || !bytes.Equal(frame, c.frame) || !bytes.Equal(payload, c.payload) || fin != c.fin || op != c.op {
			t.Errorf("%s: frame equal %v, payload equal %v, fin %v, op %d, err %v", c.name, bytes.Equal(frame, c.frame), bytes.Equal(payload, c.payload), fin, op, err)
		}
	}
	// Truncated frames return what was read and an error.
	f := mk(true, 1, []byte("abcdef"), nil)
	frame, _, _, _, err := readFrame(bufio.NewReader(bytes.NewReader(f[:5])))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(frame, f[:2]) {
		t.Errorf("truncated: %q %v", frame, err)
	}
}

func TestPhaseOf(t *testing.T) {
	for msg, want := range map[string]Phase{
		`{"type":"session","session_id":"a"}`:                     Session,
		`{"type":"progress","state":"SearchingForDigitalPerson"}`: Searching,
		`{"type":"progress","state":"DownloadingAssets"}`:         Assets,
		`{"type":"progress","state":"ConnectingToDigitalPerson"}`: Connecting,
		`{"type":"ready"}`:                        Ready,
		`{"type":"close","reason":"noScene"}`:     Closed,
		`{"type":"ping","seq":1}`:                 -1,
		`{"type":"progress","state":"Connected"}`: -1,
		`not json`: -1,
	} {
		if got := phaseOf([]byte(msg)); got != want {
			t.Errorf("%s: %v, want %v", msg, got, want)
		}
	}
}

// A server that upgrades and sends the steps, one every 20 ms.
func stepServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for _, m := range []string{`{"type":"session","session_id":"a"}`, `{"type":"progress","state":"SearchingForDigitalPerson"}`,
			`{"type":"progress","state":"DownloadingAssets"}`, `{"type":"progress","state":"ConnectingToDigitalPerson"}`, `{"type":"ready"}`} {
			if ws.WriteMessage(websocket.TextMessage, []byte(m)) != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		_, _, _ = ws.ReadMessage() // until the proxy cuts or the client leaves
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// dialThrough connects through the proxy and returns the messages read
// before the connection ended, or the first upTo of them.
func dialThrough(t *testing.T, p *Proxy, upTo int) []string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+p.Addr()+"/", nil)
	if err != nil {
		return []string{"dial: " + err.Error()}
	}
	defer ws.Close()
	var got []string
	for {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, m, err := ws.ReadMessage()
		if err != nil {
			return got
		}
		got = append(got, string(m))
		if len(got) == upTo {
			return got
		}
	}
}

func TestProxyCutsInTheAimedStep(t *testing.T) {
	up := stepServer(t)
	plans := []Plan{
		{Cut: true, At: Assets}, // at once after DownloadingAssets
		{Cut: true, At: Searching, Hold: true, Delay: 30 * time.Millisecond},             // Searching, then quiet until the cut
		{Cut: true, At: Connecting, MidFrame: true},                                      // in the middle of progress Connecting
		{Cut: true, At: Accepted, Hold: true, Delay: 10 * time.Millisecond, Reset: true}, // the upgrade never answered
		{}, // not cut: ends when the client leaves
	}
	next := make(chan Plan, len(plans))
	for _, p := range plans {
		next <- p
	}
	p, err := New(up, func(int) (Plan, bool) { return <-next, true })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	want := []struct {
		phase Phase
		last  string // the last message the client got
		n     int
	}{
		{Assets, "DownloadingAssets", 3},
		{Searching, "SearchingForDigitalPerson", 2},
		{Assets, "DownloadingAssets", 3},
		{Accepted, "dial", 1},
	}
	for i, w := range want {
		got := dialThrough(t, p, 0)
		o := <-p.Outcomes()
		if !o.Cut || o.Phase != w.phase || len(got) != w.n || !strings.Contains(got[len(got)-1], w.last) {
			t.Errorf("plan %d (%s): %s; client got %q", i, plans[i], o, got)
		}
	}
	// The uncut connection forwards everything.
	done := make(chan []string)
	go func() { done <- dialThrough(t, p, 5) }()
	o := <-p.Outcomes()
	got := <-done
	if o.Cut || o.Phase != Ready || len(got) != 5 {
		t.Errorf("uncut: %s; client got %q", o, got)
	}
}
