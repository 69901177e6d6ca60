//go:build livekit

package livekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/livekit/protocol/livekit"
	protologger "github.com/livekit/protocol/logger"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
)

// AttrPublishOnBehalf is the attribute a participant that publishes for
// an agent (an avatar worker) carries, naming the agent.
const AttrPublishOnBehalf = "lk.publish_on_behalf"

// Causes inside a ConnectError (they reach the journal; none holds the token).
var (
	ErrTokenRefused = errors.New("livekit: the server refused the access token (401 unauthorized)")
	ErrDPLeft       = errors.New("livekit: the Digital Person left the room before Connected")
	ErrSignalLost   = errors.New("livekit: signalling lost before Connected")
	ErrRoomClosed   = errors.New("livekit: the room was closed")
	ErrOtherRoom    = errors.New("livekit: the stored session is another room than the token's")
	ErrRoomIsNew    = errors.New("livekit: the stored room is gone (the server made a new one)")
)

type abort struct {
	name  contract.ErrorName
	cause error
}

// event is what the SDK's callbacks and the call's helpers tell the run
// goroutine, which owns all of the call's state.
type event struct {
	kind     eventKind
	identity string
	track    webrtc.RTPCodecType
	reason   livekit.DisconnectReason
	err      error
}

type eventKind int

const (
	evRoom         eventKind = iota // something about the participants changed: look again
	evLeft                          // identity left with reason
	evSubscribed                    // a track of identity's, of kind track, is arriving
	evReconnecting                  // the SDK lost signalling (or the PeerConnection) and tries again
	evDisconnected                  // the room is over for us, with reason
	evPublished                     // our tracks are published (err: or not)
)

type call struct {
	d   *Dialect
	a   dialect.Attempt
	log *slog.Logger

	done   chan struct{}
	aborts chan abort
	events chan event
	result dialect.Result

	// Owned by run.
	state      contract.ConnectionState
	room       *lksdk.Room
	dp         string                       // the Digital Person's identity, once chosen
	subscribed map[webrtc.RTPCodecType]bool // the DP's kinds arriving
	published  bool

	sinkCtx     context.Context
	sinkCancel  context.CancelFunc
	sinks       sync.WaitGroup
	sinkMu      sync.Mutex
	sinksClosed bool

	// ssrcs maps our senders' SSRCs to their tracks, for keyframe requests.
	ssrcMu sync.Mutex
	ssrcs  map[uint32]dialect.SendTrack
}

func newCall(d *Dialect, a dialect.Attempt) *call {
	c := &call{
		d: d, a: a, log: a.Log,
		done:       make(chan struct{}),
		aborts:     make(chan abort, 1),
		events:     make(chan event, 256),
		subscribed: map[webrtc.RTPCodecType]bool{},
		ssrcs:      map[uint32]dialect.SendTrack{},
	}
	c.sinkCtx, c.sinkCancel = context.WithCancel(context.Background())
	return c
}

func (c *call) Done() <-chan struct{} { return c.done }

func (c *call) Result() dialect.Result {
	<-c.done
	return c.result
}

func (c *call) Abort(name contract.ErrorName, cause error) {
	select {
	case c.aborts <- abort{name, cause}:
	default:
	}
}

// post hands an SDK callback to the run goroutine; after the call has
// ended it is dropped instead of blocking the SDK.
func (c *call) post(ev event) {
	select {
	case c.events <- ev:
	case <-c.done:
	}
}

func (c *call) setState(st contract.ConnectionState) {
	if st <= c.state {
		return // forward only, once per change
	}
	c.state = st
	c.a.Report.State(st)
}

func (c *call) run(ctx context.Context) {
	defer close(c.done)
	defer c.teardown()

	if c.a.Resume != "" && c.a.Resume != c.d.cfg.Room {
		c.fail(contract.NoSessionToResume, fmt.Errorf("%w (room %q)", ErrOtherRoom, c.a.Resume))
		return
	}
	if !c.join(ctx) {
		return
	}
	resumed := c.a.Resume != ""
	if c.d.sawRoom(c.room.Name(), c.room.SID()) && resumed {
		c.fail(contract.NoSessionToResume, ErrRoomIsNew)
		return
	}
	c.result.SessionID, c.result.Resumed = c.room.Name(), resumed
	c.log.Info("joined the LiveKit room", "room", c.room.Name(), "room_sid", c.room.SID(), "identity", c.room.LocalParticipant.Identity())
	c.a.Report.Session(c.room.Name(), resumed)
	c.setState(contract.SearchingForDigitalPerson)
	c.startPublishing()
	c.look()

	for {
		select {
		case <-ctx.Done():
			c.endByUs()
			return
		case ab := <-c.aborts:
			if c.state == contract.Connected {
				c.log.Debug("ignoring an abort that came after Connected", "error_name", ab.name.String(), "error", ab.cause)
				continue
			}
			c.fail(ab.name, ab.cause)
			return
		case ev := <-c.events:
			if !c.handle(ev) {
				return
			}
		case err := <-c.a.Media.Failed():
			if c.state == contract.Connected {
				c.result.MediaErr = err
			} else {
				c.fail(contract.MediaStreamFailed, err)
			}
			return
		}
	}
}

// join connects to the room; the supervisor's deadline (an Abort) or a
// shutdown (ctx) cuts it short. It returns false when the call has ended.
func (c *call) join(ctx context.Context) bool {
	cb := lksdk.NewRoomCallback()
	cb.OnParticipantConnected = func(*lksdk.RemoteParticipant) { c.post(event{kind: evRoom}) }
	cb.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) {
		c.post(event{kind: evLeft, identity: rp.Identity(), reason: rp.DisconnectReason()})
	}
	cb.OnAttributesChanged = func(map[string]string, lksdk.Participant) { c.post(event{kind: evRoom}) }
	cb.OnTrackPublished = func(*lksdk.RemoteTrackPublication, *lksdk.RemoteParticipant) { c.post(event{kind: evRoom}) }
	cb.OnTrackSubscribed = c.onTrack
	cb.OnReconnecting = func() { c.post(event{kind: evReconnecting}) }
	cb.OnDisconnected = func() {} // OnDisconnectedWithReason says it with the reason
	room := lksdk.NewRoom(cb)
	cb.OnDisconnectedWithReason = func(lksdk.DisconnectionReason) {
		c.post(event{kind: evDisconnected, reason: room.DisconnectReason()})
	}

	joinCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	joined := make(chan error, 1)
	go func() {
		joined <- room.JoinWithContextAndToken(joinCtx, c.d.cfg.URL, c.d.cfg.Token,
			lksdk.WithAutoSubscribe(true),
			lksdk.WithConnectTimeout(c.d.cfg.ConnectTimeout),
			lksdk.WithDisableRegionDiscovery(),
			lksdk.WithLogger(protologger.GetDiscardLogger()), // its lines may carry the URL and connect parameters
			lksdk.WithInterceptors([]interceptor.Factory{&pliFactory{c: c}}),
			lksdk.WithIncludeDefaultInterceptors(true),
		)
	}()
	var err error
	select {
	case err = <-joined:
	case ab := <-c.aborts:
		cancel()
		if <-joined == nil {
			c.room = room // teardown leaves it
		}
		c.fail(ab.name, ab.cause)
		return false
	}
	if err != nil {
		if ctx.Err() != nil {
			c.endByUs()
			return false
		}
		c.fail(contract.ServerConnectionFailed, joinError(err))
		return false
	}
	c.room = room
	return true
}

// joinError says why a join failed in words of our own: the SDK's may
// quote the server's response.
func joinError(err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "unauthorized"), strings.Contains(msg, "401"):
		return ErrTokenRefused
	case errors.Is(err, lksdk.ErrCannotConnectSignal):
		return fmt.Errorf("livekit: cannot join the room: %w", lksdk.ErrCannotConnectSignal)
	}
	return fmt.Errorf("livekit: cannot join the room: %w", err)
}

// onTrack runs the Digital Person's track (or anyone's: only the DP's
// count toward Connected) in a goroutine of its own, as dialect.Media
// asks.
func (c *call) onTrack(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	c.sinkMu.Lock()
	if c.sinksClosed {
		c.sinkMu.Unlock()
		return
	}
	c.sinks.Add(1)
	c.sinkMu.Unlock()
	c.post(event{kind: evSubscribed, identity: rp.Identity(), track: tr.Kind()})
	go func() {
		defer c.sinks.Done()
		c.a.Media.HandleTrack(c.sinkCtx, tr, pub.Receiver())
	}()
}

// startPublishing publishes the kiosk's send tracks, in a goroutine: the
// SDK waits for the server's answer to each.
func (c *call) startPublishing() {
	tracks := c.a.Media.Send()
	lp := c.room.LocalParticipant
	go func() {
		var err error
		for _, t := range tracks {
			opts := &lksdk.TrackPublicationOptions{Name: "microphone", Source: livekit.TrackSource_MICROPHONE}
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				opts = &lksdk.TrackPublicationOptions{Name: "camera", Source: livekit.TrackSource_CAMERA}
			}
			if _, err = lp.PublishTrack(&sendTrack{SendTrack: t, c: c}, opts); err != nil {
				err = fmt.Errorf("publish %s track: %w", t.Kind(), err)
				break
			}
		}
		c.post(event{kind: evPublished, err: err})
	}()
}

// handle applies one event; it returns false when the call has ended.
func (c *call) handle(ev event) bool {
	switch ev.kind {
	case evRoom:
	case evSubscribed:
		if ev.identity == c.dp || c.dp == "" {
			c.look()
			if ev.identity == c.dp {
				c.subscribed[ev.track] = true
			}
		}
	case evPublished:
		if ev.err != nil {
			if c.state == contract.Connected {
				c.result.MediaErr = ev.err
				return false
			}
			return c.fail(contract.MediaStreamFailed, ev.err)
		}
		c.published = true
	case evLeft:
		if ev.identity != c.dp {
			return true
		}
		c.log.Info("the Digital Person left the room", "identity", ev.identity, "reason", ev.reason.String())
		if c.state == contract.Connected {
			c.result.Reason = contract.ReasonConversationEnded
			return false
		}
		return c.fail(contract.ServerConnectionFailed, fmt.Errorf("%w (%s)", ErrDPLeft, ev.reason))
	case evReconnecting:
		c.log.Info("LiveKit signalling lost", "room", c.room.Name())
		if c.state == contract.Connected {
			c.result.Reason = contract.ReasonControlDisconnected
			return false
		}
		return c.fail(contract.ServerConnectionFailed, ErrSignalLost)
	case evDisconnected:
		return c.disconnected(ev.reason)
	}
	c.look()
	return true
}

// disconnected maps the reason the room ended for us onto
// docs/BEHAVIOUR.md sections 2 and 3 (docs/LIVEKIT.md has the table).
func (c *call) disconnected(r livekit.DisconnectReason) bool {
	c.log.Info("left the LiveKit room", "room", c.room.Name(), "reason", r.String())
	if c.state != contract.Connected {
		return c.fail(contract.ServerConnectionFailed, fmt.Errorf("%w (%s)", ErrRoomClosed, r))
	}
	switch r {
	case livekit.DisconnectReason_ROOM_DELETED, livekit.DisconnectReason_ROOM_CLOSED,
		livekit.DisconnectReason_PARTICIPANT_REMOVED, livekit.DisconnectReason_USER_REJECTED:
		c.result.Reason = contract.ReasonConversationEnded
	case livekit.DisconnectReason_DUPLICATE_IDENTITY:
		// Another kiosk (a copied configuration) took our identity.
		c.result.Reason = contract.ReasonControlDisconnected
		c.result.TakenOver = true
	default:
		c.result.Reason = contract.ReasonControlDisconnected
	}
	return false
}

// look finds the Digital Person among the room's participants and moves
// the state as far as what it sees allows.
func (c *call) look() {
	if c.dp == "" {
		if rp := c.findDP(); rp != nil {
			c.dp = rp.Identity()
			c.log.Info("the Digital Person is in the room", "identity", c.dp)
		}
	}
	if c.dp == "" {
		return
	}
	rp := c.room.GetParticipantByIdentity(c.dp)
	if rp == nil {
		return
	}
	c.setState(contract.DownloadingAssets)
	pubs := rp.TrackPublications()
	if len(pubs) == 0 {
		return
	}
	c.setState(contract.ConnectingToDigitalPerson)
	want := map[webrtc.RTPCodecType]bool{}
	for _, p := range pubs {
		switch p.Kind() {
		case lksdk.TrackKindAudio:
			want[webrtc.RTPCodecTypeAudio] = true
		case lksdk.TrackKindVideo:
			want[webrtc.RTPCodecTypeVideo] = true
		}
	}
	if !want[webrtc.RTPCodecTypeAudio] || !c.published {
		return // the voice is what makes a conversation
	}
	for k := range want {
		if !c.subscribed[k] {
			return
		}
	}
	c.result.Connected = c.d.cfg.Clock.Now()
	c.setState(contract.Connected)
}

// findDP is the configured identity, else the first agent participant:
// kind AGENT, or one publishing on an agent's behalf (an avatar).
func (c *call) findDP() *lksdk.RemoteParticipant {
	if id := c.d.cfg.DPIdentity; id != "" {
		return c.room.GetParticipantByIdentity(id)
	}
	for _, rp := range c.room.GetRemoteParticipants() {
		if rp.Kind() == lksdk.ParticipantAgent || rp.Attributes()[AttrPublishOnBehalf] != "" {
			return rp
		}
	}
	return nil
}

func (c *call) fail(name contract.ErrorName, cause error) bool {
	detail := contract.NoDetail
	if name == contract.ServerConnectionFailed && errors.Is(cause, ErrTokenRefused) {
		// The access token was refused: staff call support (contract.ErrorDetail).
		detail = contract.DetailUnauthorized
	}
	c.result.Err = contract.NewConnectErrorDetail(name, detail, cause)
	return false
}

func (c *call) endByUs() {
	c.result.ByUs = true
	if c.result.Err == nil {
		c.result.Reason = contract.ReasonNormal
	}
}

func (c *call) teardown() {
	if c.room != nil {
		c.room.Disconnect() // leaves the room; our tracks stay open for the next call
	}
	c.sinkCancel()
	c.sinkMu.Lock()
	c.sinksClosed = true
	c.sinkMu.Unlock()
	c.sinks.Wait()
	c.result.Ended = c.d.cfg.Clock.Now()
}

// sendTrack is one of the kiosk's tracks as published in a room: it
// remembers the SSRC of each binding, so that the Digital Person's
// keyframe requests reach the encoder (the SDK reads a custom track's
// RTCP itself and drops it).
type sendTrack struct {
	dialect.SendTrack
	c *call
}

// Codec lets the SDK put the track's codec first in the offer.
func (t *sendTrack) Codec() webrtc.RTPCodecCapability {
	if wc, ok := t.SendTrack.(interface {
		Codec() webrtc.RTPCodecCapability
	}); ok {
		return wc.Codec()
	}
	return webrtc.RTPCodecCapability{}
}

func (t *sendTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	p, err := t.SendTrack.Bind(ctx)
	if err == nil {
		t.c.ssrcMu.Lock()
		t.c.ssrcs[uint32(ctx.SSRC())] = t.SendTrack
		t.c.ssrcMu.Unlock()
	}
	return p, err
}

func (t *sendTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.c.ssrcMu.Lock()
	delete(t.c.ssrcs, uint32(ctx.SSRC()))
	t.c.ssrcMu.Unlock()
	return t.SendTrack.Unbind(ctx)
}

func (c *call) keyFrame(ssrc uint32) {
	c.ssrcMu.Lock()
	t := c.ssrcs[ssrc]
	c.ssrcMu.Unlock()
	if t != nil {
		t.RequestKeyFrame()
	}
}

// pliFactory makes the interceptor that passes PLI and FIR for our
// senders to their encoders.
type pliFactory struct{ c *call }

func (f *pliFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &pliInterceptor{c: f.c}, nil
}

type pliInterceptor struct {
	interceptor.NoOp
	c *call
}

func (p *pliInterceptor) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = interceptor.Attributes{}
		}
		pkts, perr := a.GetRTCPPackets(b[:n])
		if perr != nil {
			return n, a, err
		}
		for _, pkt := range pkts {
			switch v := pkt.(type) {
			case *rtcp.PictureLossIndication:
				p.c.keyFrame(v.MediaSSRC)
			case *rtcp.FullIntraRequest:
				for _, e := range v.FIR {
					p.c.keyFrame(e.SSRC)
				}
			}
		}
		return n, a, err
	})
}
