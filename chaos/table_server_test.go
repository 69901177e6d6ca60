package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/dpwire"
	"github.com/kioskd/kioskd/rtc"
)

// tableServer is the hostile server of the table (hostile_table_test.go):
// a kioskd.dp.v1 server written for the test, independent of dpsim, that
// behaves on every connection (session, the three progress steps, the
// answer of a real pion PeerConnection with its trickled candidates,
// ready) except the first `hostile` ones. On those it does what its cell's
// row says at the moment the kiosk is in the cell's column, then goes on
// behaving as far as the kiosk lets it.
type tableServer struct {
	URL string

	t       testing.TB
	row     *row
	col     stage
	hostile int
	tune    serverTune
	kiosk   func() (connects int, changed <-chan struct{}) // the supervisor's Connected count

	api *webrtc.API
	srv *httptest.Server
	ctx context.Context
	end context.CancelFunc
	wg  sync.WaitGroup

	dials atomic.Int64

	mu      sync.Mutex
	conns   []*sconn
	changed chan struct{} // closed and replaced at every change a test may wait for
}

// serverTune is what a cell sets on its server.
type serverTune struct {
	heartbeatMS  int                  // announced in `session`
	pace         func() time.Duration // a pause before each step of the flow (long mode); nil: none
	flood        int                  // frames per flood
	smallBuffers bool                 // a 128-byte MSS: a kiosk's writes block sooner when the server stops reading
}

// stage is where a connection stands, named by the kiosk's state there;
// the table's columns.
type stage int

const (
	atHello     stage = iota // hello read, nothing sent yet ("before session")
	atSearching              // session and progress SearchingForDigitalPerson sent
	atAssets                 // progress DownloadingAssets sent
	atOffer                  // progress ConnectingToDigitalPerson sent, the offer received, not answered
	atAnswer                 // answered (the server's candidates trickling), no ready yet
	atConnected              // ready sent and the kiosk Connected
	nStages
)

var stageNames = [nStages]string{"before-session", "Searching", "DownloadingAssets", "Connecting-offered", "Connecting-answered", "Connected"}

func (s stage) String() string { return stageNames[s] }

func newTableServer(t testing.TB, r *row, col stage, hostile int, tune serverTune) *tableServer {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	m := &webrtc.MediaEngine{}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterCodec(rtc.Codec(kind), kind); err != nil {
			t.Fatal(err)
		}
	}
	s := &tableServer{
		t: t, row: r, col: col, hostile: hostile, tune: tune,
		api:     webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se)),
		changed: make(chan struct{}),
	}
	if s.tune.heartbeatMS == 0 {
		s.tune.heartbeatMS = 1000
	}
	s.ctx, s.end = context.WithCancel(context.Background())
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.handle))
	if tune.smallBuffers {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var err error
			cerr := c.Control(func(fd uintptr) {
				err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 128)
			})
			return errors.Join(cerr, err)
		}}
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.srv.Listener.Close()
		s.srv.Listener = ln
	}
	s.srv.Start()
	s.URL = "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/v1/session"
	return s
}

// close ends every connection and waits for everything the server started.
func (s *tableServer) close() {
	s.end()
	s.mu.Lock()
	conns := append([]*sconn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	s.srv.Close()
	s.wg.Wait()
}

func (s *tableServer) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// waitFor waits until cond holds (checked under no lock, at every change).
func (s *tableServer) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// conn returns connection n (1-based), or nil.
func (s *tableServer) conn(n int) *sconn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n < 1 || n > len(s.conns) {
		return nil
	}
	return s.conns[n-1]
}

// sconn is one control connection of the server.
type sconn struct {
	s  *tableServer
	n  int
	ws *websocket.Conn

	wmu sync.Mutex

	hello    chan dpwire.Hello
	offer    chan dpwire.Offer
	silent   atomic.Bool   // answer no ping
	stopRead chan struct{} // closed: read nothing more
	killed   chan struct{}
	killOnce sync.Once
	readDone chan struct{}
	pcUp     chan struct{}
	pcOnce   sync.Once

	pcMu      sync.Mutex
	pc        *webrtc.PeerConnection
	remoteSet bool
	pending   []webrtc.ICECandidateInit

	// What the kiosk did on this connection; guarded by s.mu.
	connectsAtDial int    // the kiosk's Connected count when it dialled
	kioskClose     string // the reason of the kiosk's close message
	closeCode      int    // the code of the kiosk's close frame
	pings          int    // the kiosk's pings
	pongs          int    // the kiosk's pongs
	lastPong       uint64
	hadHello       bool
	helloResume    string // what the hello asked to resume
	acted          bool   // the row has done what it does
	ended          bool   // the reader has ended
}

// resume is what the kiosk's hello asked to resume.
func (c *sconn) resume() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.helloResume
}

var upgrader = websocket.Upgrader{Subprotocols: []string{dpwire.Subprotocol}}

func (s *tableServer) handle(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	c := &sconn{
		s: s, ws: ws,
		hello: make(chan dpwire.Hello, 1), offer: make(chan dpwire.Offer, 1),
		stopRead: make(chan struct{}), killed: make(chan struct{}),
		readDone: make(chan struct{}), pcUp: make(chan struct{}),
	}
	if s.kiosk != nil {
		c.connectsAtDial, _ = s.kiosk()
	}
	s.mu.Lock()
	s.conns = append(s.conns, c)
	c.n = len(s.conns)
	s.mu.Unlock()
	s.dials.Add(1)
	s.notify()
	go c.read()
	s.script(c)
	select {
	case <-c.readDone:
	case <-c.killed:
	case <-s.ctx.Done():
	}
	c.kill()
	<-c.readDone
}

// kill closes the socket and the PeerConnection.
func (c *sconn) kill() {
	c.killOnce.Do(func() {
		close(c.killed)
		_ = c.ws.Close()
		c.pcMu.Lock()
		pc := c.pc
		c.pcMu.Unlock()
		if pc != nil {
			_ = pc.Close()
		}
	})
}

func (c *sconn) gone() <-chan struct{} { return c.readDone }

// deaf says whether the server stopped reading this connection.
func (c *sconn) deaf() bool {
	select {
	case <-c.stopRead:
		return true
	default:
		return false
	}
}

// stopReading makes the server deaf: it reads nothing more (a read under
// way is cut short and its frame dropped), and the kiosk's frames pile up
// in the socket's buffers.
func (c *sconn) stopReading() {
	close(c.stopRead)
	_ = c.ws.UnderlyingConn().SetReadDeadline(time.Now())
}

// write sends one frame; a peer that reads nothing makes it fail after 2 s.
// A silent server sends nothing (its PeerConnection's candidates neither).
func (c *sconn) write(typ int, frame []byte) error { return c.writeWithin(typ, frame, 2*time.Second) }

func (c *sconn) writeWithin(typ int, frame []byte, d time.Duration) error {
	if c.silent.Load() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(d))
	return c.ws.WriteMessage(typ, frame)
}

func (c *sconn) send(m dpwire.Message) error {
	frame, err := dpwire.Encode(m)
	if err != nil {
		panic(err)
	}
	return c.write(websocket.TextMessage, frame)
}

func (c *sconn) raw(frame string) error { return c.write(websocket.TextMessage, []byte(frame)) }

// closeWith sends close with reason, then the close frame.
func (c *sconn) closeWith(reason string) {
	_ = c.send(dpwire.Close{Reason: reason, Message: "hostile table"})
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
}

// read reads the kiosk's frames until the socket ends: it answers pings
// (unless silent), records pongs and the kiosk's close, hands hello and
// offer to the script and the kiosk's candidates to the PeerConnection.
func (c *sconn) read() {
	s := c.s
	defer func() {
		s.mu.Lock()
		c.ended = true
		s.mu.Unlock()
		close(c.readDone)
		s.notify()
	}()
	for {
		typ, frame, err := c.ws.ReadMessage()
		select {
		case <-c.stopRead:
			// Deaf from here on: what came is dropped, nothing more is read.
			<-c.killed
			return
		default:
		}
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				s.mu.Lock()
				c.closeCode = ce.Code
				s.mu.Unlock()
			}
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		m, err := dpwire.Decode(frame)
		if err != nil {
			s.t.Errorf("the kiosk sent a frame the server cannot decode: %v", err)
			continue
		}
		switch v := m.(type) {
		case dpwire.Hello:
			s.mu.Lock()
			c.hadHello, c.helloResume = true, v.Resume
			s.mu.Unlock()
			s.notify()
			select {
			case c.hello <- v:
			default:
				s.t.Errorf("the kiosk sent a second hello")
			}
		case dpwire.Offer:
			select {
			case c.offer <- v:
			default:
				s.t.Errorf("the kiosk sent a second offer")
			}
		case dpwire.Candidate:
			if !v.End {
				c.addCandidate(webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex})
			}
		case dpwire.Ping:
			s.mu.Lock()
			c.pings++
			s.mu.Unlock()
			if !c.silent.Load() {
				_ = c.send(dpwire.Pong(v))
			}
			s.notify()
		case dpwire.Pong:
			s.mu.Lock()
			c.pongs++
			c.lastPong = v.Seq
			s.mu.Unlock()
			s.notify()
		case dpwire.Close:
			s.mu.Lock()
			c.kioskClose = v.Reason
			s.mu.Unlock()
			s.notify()
		}
	}
}

func (c *sconn) addCandidate(cand webrtc.ICECandidateInit) {
	c.pcMu.Lock()
	defer c.pcMu.Unlock()
	if !c.remoteSet {
		c.pending = append(c.pending, cand)
		return
	}
	_ = c.pc.AddICECandidate(cand)
}

// answer builds the server's PeerConnection for offer and sends its answer;
// its candidates trickle from pion's goroutines.
func (c *sconn) answer(offer dpwire.Offer) (string, error) {
	pc, err := c.s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	c.pcMu.Lock()
	select {
	case <-c.killed:
		c.pcMu.Unlock()
		_ = pc.Close()
		return "", errGone
	default:
	}
	c.pc = pc
	c.pcMu.Unlock()
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			_ = c.send(dpwire.Candidate{End: true})
			return
		}
		j := cand.ToJSON()
		_ = c.send(dpwire.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			c.pcOnce.Do(func() { close(c.pcUp) })
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	c.pcMu.Lock()
	c.remoteSet = true
	for _, cand := range c.pending {
		_ = pc.AddICECandidate(cand)
	}
	c.pending = nil
	c.pcMu.Unlock()
	if err := c.send(dpwire.Answer{SDP: ans.SDP}); err != nil {
		return "", errGone // the kiosk has closed the socket
	}
	return ans.SDP, nil
}

// errGone: the connection ended under the server's feet.
var errGone = errors.New("the kiosk has closed the socket")

// flow is one connection's script: what the server has sent so far.
type flow struct {
	s        *tableServer
	c        *sconn
	id       string
	resumed  bool
	hostile  bool
	sent     map[string]bool // "session", progress state names, "answer", "ready"
	offer    *dpwire.Offer
	answered string // the answer's SDP
}

func (f *flow) ok() bool {
	select {
	case <-f.c.gone():
		return false
	case <-f.s.ctx.Done():
		return false
	default:
		return true
	}
}

func (f *flow) pace() bool {
	if f.s.tune.pace == nil {
		return f.ok()
	}
	t := time.NewTimer(f.s.tune.pace())
	defer t.Stop()
	select {
	case <-t.C:
		return f.ok()
	case <-f.c.gone():
	case <-f.s.ctx.Done():
	}
	return false
}

// sendOnce sends m unless what it stands for was sent already.
func (f *flow) sendOnce(key string, m dpwire.Message) bool {
	if f.sent[key] {
		return f.ok()
	}
	f.sent[key] = true
	return f.c.send(m) == nil
}

// progressed marks the steps up to st as sent: a server that skipped
// ahead does not go back.
func (f *flow) progressed(st string) {
	for _, s := range []string{"SearchingForDigitalPerson", "DownloadingAssets", "ConnectingToDigitalPerson"} {
		f.sent[s] = true
		if s == st {
			return
		}
	}
}

// awaitOffer waits for the kiosk's offer.
func (f *flow) awaitOffer() bool {
	if f.offer != nil {
		return true
	}
	select {
	case o := <-f.c.offer:
		f.offer = &o
		return true
	case <-f.c.gone():
	case <-f.s.ctx.Done():
	}
	return false
}

// doAnswer answers the offer with the server's PeerConnection.
func (f *flow) doAnswer() bool {
	if f.sent["answer"] {
		return f.ok()
	}
	f.sent["answer"] = true
	sdp, err := f.c.answer(*f.offer)
	if err != nil {
		if !errors.Is(err, errGone) && f.ok() {
			f.s.t.Errorf("conn %d: the server cannot answer the kiosk's offer: %v", f.c.n, err)
		}
		return false
	}
	f.answered = sdp
	return true
}

// next moves the connection from st to the next stage.
func (f *flow) next(st stage) bool {
	if !f.pace() {
		return false
	}
	switch st {
	case atHello:
		return f.sendOnce("session", dpwire.Session{SessionID: f.id, Resumed: f.resumed, HeartbeatMS: f.s.tune.heartbeatMS}) &&
			f.sendOnce("SearchingForDigitalPerson", dpwire.Progress{State: "SearchingForDigitalPerson"})
	case atSearching:
		return f.sendOnce("DownloadingAssets", dpwire.Progress{State: "DownloadingAssets"})
	case atAssets:
		return f.sendOnce("ConnectingToDigitalPerson", dpwire.Progress{State: "ConnectingToDigitalPerson"}) && f.awaitOffer()
	case atOffer:
		return f.doAnswer()
	case atAnswer:
		select {
		case <-f.c.pcUp:
		case <-f.c.gone():
			return false
		case <-f.s.ctx.Done():
			return false
		}
		if !f.sendOnce("ready", dpwire.Ready{}) {
			return false
		}
		if f.hostile && f.s.col == atConnected {
			return f.awaitKioskConnected()
		}
		return true
	}
	return false
}

// awaitKioskConnected waits until the kiosk reports Connected on this
// connection (its supervisor's count of Connected goes up).
func (f *flow) awaitKioskConnected() bool {
	for {
		n, changed := f.s.kiosk()
		if n > f.c.connectsAtDial {
			return f.ok()
		}
		select {
		case <-changed:
		case <-f.c.gone():
			return false
		case <-f.s.ctx.Done():
			return false
		}
	}
}

// script runs one connection: the normal flow, and on a hostile
// connection the row's act at the cell's stage.
func (s *tableServer) script(c *sconn) {
	var h dpwire.Hello
	select {
	case h = <-c.hello:
	case <-c.gone():
		return
	case <-s.ctx.Done():
		return
	}
	f := &flow{s: s, c: c, hostile: c.n <= s.hostile, sent: map[string]bool{}}
	f.id, f.resumed = h.Resume, h.Resume != ""
	if !f.resumed {
		f.id = fmt.Sprintf("hs-%d", c.n)
	}
	for st := atHello; st < nStages; st++ {
		if f.hostile && st == s.col {
			goOn := s.row.act(f, st)
			s.mu.Lock()
			c.acted = true
			s.mu.Unlock()
			s.notify()
			if !goOn {
				return
			}
		}
		if st == atConnected || !f.next(st) {
			return
		}
	}
}
