package dpsim_test

import (
	"github.com/kioskd/kioskd/dpwire"

	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/mediadevices"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/av/analysis"
	"github.com/kioskd/kioskd/av/opus"
	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/av/vp8"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
)

// kiosk is a scripted client: the test client's control channel
// (client_test.go) and a real pion PeerConnection with synthetic tracks, as
// the kiosk would have.
type kiosk struct {
	t    testing.TB
	opts kioskOpts
	conn *clientConn

	ignored atomic.Int32 // frames of unknown type the control channel ignored

	mu        sync.Mutex
	log       []string // what arrived, in order: "session", "progress:State[:N]", "answer", "candidate", "candidate:end", "ready", "close:reason"
	sessionID string
	resumed   bool
	closeMsg  *dpwire.Close

	pc          *webrtc.PeerConnection
	tracks      []mediadevices.Track
	pcConnected chan struct{}
	pcOnce      sync.Once
	remoteSet   bool
	pending     []webrtc.ICECandidateInit
	wg          sync.WaitGroup

	// The DP's media as received.
	dpFrames    atomic.Int64
	dpW, dpH    atomic.Int32
	dpAudioRing *analysis.Ring // guarded by mu
}

type kioskOpts struct {
	Resume string
	ToneHz float64 // the microphone's tone; 0: no audio track
	Video  bool    // send a 160x120 test pattern
	// Split offers sendonly transceivers for the kiosk's tracks and
	// recvonly ones for the DP's, instead of sendrecv.
	Split bool
	// Token overrides the server's token.
	Token *string
	// Browser: the control channel does only what a browser can
	// (client_test.go).
	Browser bool
}

func dialKiosk(t testing.TB, dp *dptest.Server, opts kioskOpts) *kiosk {
	t.Helper()
	k := &kiosk{t: t, opts: opts, pcConnected: make(chan struct{}), dpAudioRing: analysis.NewRing(48000)}
	token := dp.Token
	if opts.Token != nil {
		token = *opts.Token
	}
	conn := dialClient(t, dp.URL, token, opts.Browser, func(error) { k.ignored.Add(1) })
	k.conn = conn
	t.Cleanup(k.shutdown)
	if err := conn.Send(dpwire.Hello{Resume: opts.Resume, Client: dpwire.ClientInfo{
		Name: "dpsim-test-kiosk", Version: "0", Video: opts.Video, Audio: opts.ToneHz > 0}}); err != nil {
		t.Fatalf("hello: %v", err)
	}
	return k
}

func (k *kiosk) record(s string) {
	k.mu.Lock()
	k.log = append(k.log, s)
	k.mu.Unlock()
}

func (k *kiosk) events() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.log...)
}

// errClosed is what a `close` from the server turns into.
type errClosed struct{ dpwire.Close }

func (e errClosed) Error() string { return "server closed: " + e.Reason + ": " + e.Message }

// next returns the next message, handling session (heartbeat) and
// recording everything; an error when the socket ends.
func (k *kiosk) next(ctx context.Context) (dpwire.Message, error) {
	select {
	case m, ok := <-k.conn.Incoming():
		if !ok {
			return nil, fmt.Errorf("socket ended: %w", k.conn.Err())
		}
		switch v := m.(type) {
		case dpwire.Session:
			k.mu.Lock()
			k.sessionID, k.resumed = v.SessionID, v.Resumed
			k.mu.Unlock()
			if v.HeartbeatMS > 0 {
				k.conn.SetHeartbeat(time.Duration(v.HeartbeatMS) * time.Millisecond)
			}
			k.record("session")
		case dpwire.Progress:
			if v.QueuePosition > 0 {
				k.record(fmt.Sprintf("progress:%s:%d", v.State, v.QueuePosition))
			} else {
				k.record("progress:" + v.State)
			}
		case dpwire.Answer:
			k.record("answer")
		case dpwire.Candidate:
			if v.End {
				k.record("candidate:end")
			} else {
				k.record("candidate")
			}
		case dpwire.Ready:
			k.record("ready")
		case dpwire.Close:
			k.record("close:" + v.Reason)
			k.mu.Lock()
			c := v
			k.closeMsg = &c
			k.mu.Unlock()
		default:
			k.record("other:" + m.MessageType())
		}
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a message: %w (so far %v)", ctx.Err(), k.events())
	}
}

// until reads messages until one satisfies f; a `close` is an errClosed.
func (k *kiosk) until(ctx context.Context, f func(dpwire.Message) bool) (dpwire.Message, error) {
	for {
		m, err := k.next(ctx)
		if err != nil {
			return nil, err
		}
		if f(m) {
			return m, nil
		}
		if c, ok := m.(dpwire.Close); ok {
			return nil, errClosed{c}
		}
	}
}

// ended waits for the socket to end and returns why.
func (k *kiosk) ended(ctx context.Context) error {
	for {
		if _, err := k.next(ctx); err != nil {
			return err
		}
	}
}

// connect runs the whole protocol: progress until ConnectingToDigitalPerson,
// offer, answer, trickle ICE, until `ready` and the PeerConnection is connected.
func (k *kiosk) connect(ctx context.Context) error {
	_, err := k.until(ctx, func(m dpwire.Message) bool {
		p, ok := m.(dpwire.Progress)
		return ok && p.State == "ConnectingToDigitalPerson"
	})
	if err != nil {
		return err
	}
	if err := k.offer(); err != nil {
		return err
	}
	ready := false
	connected := false
	for !(ready && connected) {
		select {
		case <-k.pcConnected:
			connected = true
			k.pcConnected = nil // fired; never select on it again
		case m, ok := <-k.conn.Incoming():
			if !ok {
				return fmt.Errorf("socket ended: %w", k.conn.Err())
			}
			if err := k.handle(m); err != nil {
				return err
			}
			if _, ok := m.(dpwire.Ready); ok {
				ready = true
			}
		case <-ctx.Done():
			return fmt.Errorf("connect: %w (so far %v)", ctx.Err(), k.events())
		}
	}
	return nil
}

// handle records m (as next does) and applies answer and candidates.
func (k *kiosk) handle(m dpwire.Message) error {
	// Re-use next's recording by feeding it through a one-message channel.
	switch v := m.(type) {
	case dpwire.Answer:
		k.record("answer")
		if err := k.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.SDP}); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		k.mu.Lock()
		k.remoteSet = true
		pending := k.pending
		k.pending = nil
		k.mu.Unlock()
		for _, c := range pending {
			if err := k.pc.AddICECandidate(c); err != nil {
				return err
			}
		}
	case dpwire.Candidate:
		if v.End {
			k.record("candidate:end")
			return nil
		}
		k.record("candidate")
		init := webrtc.ICECandidateInit{Candidate: v.Candidate, SDPMid: v.SDPMid, SDPMLineIndex: v.SDPMLineIndex}
		k.mu.Lock()
		if !k.remoteSet {
			k.pending = append(k.pending, init)
			k.mu.Unlock()
			return nil
		}
		k.mu.Unlock()
		if err := k.pc.AddICECandidate(init); err != nil {
			return fmt.Errorf("candidate %q: %w", v.Candidate, err)
		}
	case dpwire.Ready:
		k.record("ready")
	case dpwire.Close:
		k.record("close:" + v.Reason)
		return errClosed{v}
	case dpwire.Progress:
		k.record("progress:" + v.State)
	default:
		k.record("other:" + m.MessageType())
	}
	return nil
}

func kioskAPI(t testing.TB) (*webrtc.API, *mediadevices.CodecSelector) {
	sel, err := dpsim.Codecs(100_000)
	if err != nil {
		t.Fatal(err)
	}
	me := &webrtc.MediaEngine{}
	sel.Populate(me)
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(dptest.LoopbackSettingEngine())), sel
}

// offer builds the PeerConnection and sends the offer, then trickles.
func (k *kiosk) offer() error {
	api, sel := kioskAPI(k.t)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	k.pc = pc
	connected := k.pcConnected
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			k.pcOnce.Do(func() { close(connected) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		k.wg.Add(1)
		defer k.wg.Done()
		k.receive(tr)
	})
	var local []mediadevices.Track
	if k.opts.Video {
		local = append(local, mediadevices.NewVideoTrack(synthetic.NewVideo(160, 120, 10), sel))
	}
	if k.opts.ToneHz > 0 {
		local = append(local, mediadevices.NewAudioTrack(synthetic.NewTone(k.opts.ToneHz, 48000), sel))
	}
	k.tracks = local
	if k.opts.Split {
		for _, tr := range local {
			if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
				return err
			}
		}
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return err
			}
		}
	} else {
		have := map[webrtc.RTPCodecType]bool{}
		for _, tr := range local {
			if _, err := pc.AddTrack(tr); err != nil {
				return err
			}
			have[tr.Kind()] = true
		}
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if !have[kind] {
				if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
					return err
				}
			}
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	// The offer goes out before any candidate.
	if err := k.conn.Send(dpwire.Offer{SDP: offer.SDP}); err != nil {
		return err
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			_ = k.conn.Send(dpwire.Candidate{End: true})
			return
		}
		init := c.ToJSON()
		_ = k.conn.Send(dpwire.Candidate{Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex})
	})
	return pc.SetLocalDescription(offer)
}

// receive accounts for the DP's media.
func (k *kiosk) receive(tr *webrtc.TrackRemote) {
	switch tr.Kind() {
	case webrtc.RTPCodecTypeVideo:
		var asm vp8.Assembler
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if f, ok := asm.Push(pkt); ok {
				k.dpFrames.Add(1)
				if w, h, ok := vp8.KeyframeSize(f); ok {
					k.dpW.Store(int32(w))
					k.dpH.Store(int32(h))
				}
			}
		}
	case webrtc.RTPCodecTypeAudio:
		dec, err := opus.NewDecoder(48000, 1)
		if err != nil {
			return
		}
		defer dec.Close()
		pcm := make([]int16, opus.MaxFrameSamples(48000))
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			n, err := dec.Decode(pkt.Payload, pcm)
			if err != nil {
				continue
			}
			k.mu.Lock()
			k.dpAudioRing.Write(pcm[:n])
			k.mu.Unlock()
		}
	}
}

// dpVoiceHz is the dominant frequency of the DP's voice as received.
func (k *kiosk) dpVoiceHz() (float64, int) {
	k.mu.Lock()
	s := k.dpAudioRing.Samples(nil)
	k.mu.Unlock()
	return analysis.DominantHz(s, 48000), len(s)
}

func (k *kiosk) id() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sessionID
}

// closeWith sends `close`, waits until the server has it, and closes the
// socket: the server must have recorded the reason before the socket ends.
func (k *kiosk) closeWith(ctx context.Context, dp *dptest.Server, reason string) {
	_ = k.conn.Send(dpwire.Close{Reason: reason})
	id := k.id()
	if _, err := dp.WaitFor(ctx, func(l []dpsim.SessionInfo) bool {
		for _, s := range l {
			if s.ID == id && s.LastCloseReason == reason {
				return true
			}
		}
		return false
	}); err != nil {
		k.t.Errorf("the server never got close %s: %v", reason, err)
	}
	_ = k.conn.Close()
}

// shutdown releases everything the kiosk holds.
func (k *kiosk) shutdown() {
	_ = k.conn.Close()
	if k.pc != nil { // before the tracks: see dpsim's teardownMedia
		_ = k.pc.GracefulClose()
	}
	for _, t := range k.tracks {
		_ = t.Close()
	}
	k.wg.Wait()
}

func isClose(err error, reason string) bool {
	var c errClosed
	return errors.As(err, &c) && c.Reason == reason
}

func hasPrefixIn(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
