package lkdp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	protologger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/mediadevices"
	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kioskd/kioskd/av/synthetic"
	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpwire"
)

// State is where the DP is with a room.
type State string

// The states of a room as the DP sees it.
const (
	StateWaiting State = "waiting" // seen, the join is pending (JoinDelay)
	StateIgnored State = "ignored" // NeverJoin: seen, never joined
	StateJoined  State = "joined"  // in the room, publishing
	StateEnded   State = "ended"   // left, removed, deleted, or the join failed
)

func (s State) ended() bool { return s == StateEnded }

// Why the DP's time in a room ended (RoomInfo.EndReason), besides
// "disconnected: <the SDK's reason>".
const (
	EndLeft        = "left"          // the DP left (LeaveAfter, POST /leave)
	EndKickedKiosk = "kiosk removed" // RemoveKioskAfter or POST /remove-kiosk; the DP left too
	EndDeletedRoom = "room deleted"  // DeleteRoomAfter or POST /delete-room
	EndJoinFailed  = "join failed"
	EndKioskLeft   = "kiosk left"
	EndShutdown    = "shutdown"
)

// AttrAgentState is the participant attribute in which a LiveKit agent
// says what it is doing (LiveKit Agents' AgentState): the DP joins with
// initializing, is listening once it publishes, and goes through
// thinking and speaking when the scenario or the admin API says.
const AttrAgentState = "lk.agent.state"

// converseCycle is Scenario.ConverseEvery's round, from listening.
var converseCycle = []string{dpwire.ConversationThinking, dpwire.ConversationSpeaking, dpwire.ConversationListening}

// RoomInfo is one room as GET /sessions shows it.
type RoomInfo struct {
	// ID is the room's name: kioskd's session id on the livekit dialect.
	ID      string `json:"id"`
	RoomSID string `json:"room_sid"`
	State   State  `json:"state"`
	// Kiosk is the identity of the first participant that is not an
	// agent (the kiosk), once seen.
	Kiosk string `json:"kiosk,omitempty"`
	// Dispatch is the agents the room's token request dispatched
	// (room_config.agents), none without an explicit dispatch.
	Dispatch []string `json:"dispatch,omitempty"`
	// ConversationState is the DP's lk.agent.state in the room, "" before
	// it joined.
	ConversationState string `json:"conversation_state,omitempty"`
	// Connected: in the room and receiving the kiosk's audio.
	Connected bool             `json:"connected"`
	Video     dpsim.VideoStats `json:"video"`
	Audio     dpsim.AudioStats `json:"audio"`
	EndReason string           `json:"end_reason,omitempty"`
	Created   time.Time        `json:"created"`
	Joined    time.Time        `json:"joined,omitzero"`
}

// room is the DP in one room; its fields are guarded by DP.mu, except
// the ones the room's own goroutines own (lk, srcs, wg).
type room struct {
	dp        *DP
	name, sid string
	created   time.Time
	joined    time.Time
	ended     time.Time
	state     State
	kiosk     string
	endReason string
	pending   string // the action under way, whose disconnect is ours
	video     dpsim.VideoStats
	audio     dpsim.AudioStats
	heard     bool // the kiosk's audio arrived: the scenario's clocks run
	dispatch  []string
	conv      string // the DP's lk.agent.state here

	lk     *lksdk.Room
	av     *lksdk.Room // the avatar (Config.Avatar), which publishes for lk
	srcs   []mediadevices.Track
	timers []*time.Timer
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // media goroutines
}

func (r *room) infoLocked() RoomInfo {
	return RoomInfo{
		ID: r.name, RoomSID: r.sid, State: r.state, Kiosk: r.kiosk,
		Dispatch: r.dispatch, ConversationState: r.conv,
		Connected: r.state == StateJoined && r.audio.Packets > 0,
		Video:     r.video, Audio: r.audio, EndReason: r.endReason,
		Created: r.created, Joined: r.joined,
	}
}

// run joins the room after the scenario's delay; it returns when the
// DP's time in the room is over.
func (r *room) run(ctx context.Context) {
	d := r.dp
	if delay := d.cfg.Scenario.JoinDelay; delay > 0 {
		d.log.Info("joining late", "room", r.name, "delay", delay.String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			d.setState(r, StateEnded, EndShutdown)
			return
		case <-r.stop: // left (admin API) before it joined
			t.Stop()
			return
		case <-t.C:
		}
	}
	if err := r.join(); err != nil {
		d.mu.Lock()
		d.stats.JoinErrors++
		d.mu.Unlock()
		d.log.Warn("DP join failed", "room", r.name, "err", err)
		d.setState(r, StateEnded, EndJoinFailed)
		r.leave("")
		return
	}
	select {
	case <-ctx.Done():
	case <-r.stop:
	}
	r.leave(EndShutdown)
}

func (r *room) join() error {
	d := r.dp
	tok, err := d.token(r.name)
	if err != nil {
		return fmt.Errorf("mint the DP's token: %w", err)
	}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if rp.Kind() == lksdk.ParticipantAgent {
			return
		}
		d.mu.Lock()
		if r.kiosk == "" {
			r.kiosk = rp.Identity()
		}
		closing := r.state.ended()
		if !closing {
			r.wg.Add(1)
		}
		d.mu.Unlock()
		if closing {
			return
		}
		d.log.Info("kiosk track", "room", r.name, "kiosk", rp.Identity(), "kind", tr.Kind().String(), "codec", tr.Codec().MimeType)
		acc := dpsim.Accounting{Mu: &d.mu, Video: &r.video, Audio: &r.audio, Notify: r.changedLocked,
			VoiceHz: d.cfg.VoiceHz, Window: d.cfg.AnalysisWindow, Log: d.log,
			// LiveKit's SFU writes blank 8x8 VP8 keyframes when a track is
			// muted or closed (livekit-server's DownTrack, VP8KeyFrame8x8):
			// not the kiosk's picture.
			NotThePicture: func(w, h int) bool { return w == 8 && h == 8 }}
		// Not in the SDK's callback: it would hold up the room's events.
		go func() {
			defer r.wg.Done()
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				acc.VideoTrack(tr, func([]rtcp.Packet) error { rp.WritePLI(tr.SSRC()); return nil })
			} else {
				acc.AudioTrack(tr)
			}
		}()
	}
	cb.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) {
		if rp.Kind() == lksdk.ParticipantAgent {
			return
		}
		// An agent's job ends when its visitor leaves: the DP goes when
		// no one but agents is left (not from this callback: leave waits
		// for the SDK).
		for _, p := range remote(r) {
			if p.Kind() != lksdk.ParticipantAgent && p.Identity() != rp.Identity() {
				return
			}
		}
		d.log.Info("the kiosk left; the DP leaves too", "room", r.name, "kiosk", rp.Identity())
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			r.leave(EndKioskLeft)
		}()
	}
	cb.OnDisconnectedWithReason = func(reason lksdk.DisconnectionReason) {
		d.log.Info("DP disconnected", "room", r.name, "reason", string(reason))
		why := "disconnected: " + string(reason)
		d.mu.Lock()
		if r.pending != "" { // the DP's own doing: deleting the room
			why = r.pending
		}
		d.mu.Unlock()
		d.setState(r, StateEnded, why)
		r.signalStop()
	}
	lk, err := lksdk.ConnectToRoomWithToken(d.cfg.URL, tok, cb,
		lksdk.WithDisableRegionDiscovery(), lksdk.WithLogger(protologger.GetDiscardLogger()))
	if err != nil {
		// The token must not reach a log line, whatever the SDK's error holds.
		return errors.New(strings.ReplaceAll(err.Error(), tok, "[token]"))
	}
	d.mu.Lock()
	if r.state.ended() { // left (shutdown, admin) while joining
		d.mu.Unlock()
		lk.Disconnect()
		return nil
	}
	r.lk = lk
	r.state, r.joined = StateJoined, time.Now()
	r.conv = dpwire.ConversationInitializing // the token's attribute
	d.stats.Joins++
	d.notifyLocked()
	d.mu.Unlock()
	d.log.Info("DP joined", "room", r.name, "room_sid", r.sid, "identity", d.cfg.Identity)
	if d.cfg.Avatar {
		if err := r.joinAvatar(); err != nil {
			return err
		}
	}
	if err := r.publish(); err != nil {
		return err
	}
	r.converse(dpwire.ConversationListening)
	return nil
}

// joinAvatar joins the avatar participant (Config.Avatar): it subscribes
// to nothing (the agent hears the kiosk) and publishes the DP's media.
func (r *room) joinAvatar() error {
	d := r.dp
	tok, err := d.avatarToken(r.name)
	if err != nil {
		return fmt.Errorf("mint the avatar's token: %w", err)
	}
	av, err := lksdk.ConnectToRoomWithToken(d.cfg.URL, tok, lksdk.NewRoomCallback(),
		lksdk.WithAutoSubscribe(false), lksdk.WithDisableRegionDiscovery(), lksdk.WithLogger(protologger.GetDiscardLogger()))
	if err != nil {
		return errors.New("avatar: " + strings.ReplaceAll(err.Error(), tok, "[token]"))
	}
	d.mu.Lock()
	if r.state.ended() {
		d.mu.Unlock()
		av.Disconnect()
		return nil
	}
	r.av = av
	d.mu.Unlock()
	d.log.Info("the DP's avatar joined", "room", r.name, "identity", d.avatarIdentity(), "for", d.cfg.Identity)
	return nil
}

// converse sets the DP's lk.agent.state in the room (none removes it:
// LiveKit deletes an attribute set to ""). False when the DP is not in
// the room.
func (r *room) converse(state string) bool {
	d := r.dp
	d.mu.Lock()
	lk := r.lk
	if lk == nil || r.state.ended() {
		d.mu.Unlock()
		return false
	}
	r.conv = state
	d.notifyLocked()
	d.mu.Unlock()
	v := state
	if v == dpwire.ConversationNone {
		v = ""
	}
	lk.LocalParticipant.SetAttributes(map[string]string{AttrAgentState: v})
	d.log.Info("DP conversation state", "room", r.name, "conversation_state", state)
	return true
}

// converseStep is Scenario.ConverseEvery's clock: the next state of the
// round, then the next step, until the DP leaves (leave stops the timers).
func (r *room) converseStep(i int) {
	d := r.dp
	if !r.converse(converseCycle[i%len(converseCycle)]) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !r.state.ended() {
		r.timers = append(r.timers, time.AfterFunc(d.cfg.Scenario.ConverseEvery, func() { r.converseStep(i + 1) }))
	}
}

// changedLocked is the accounting's notification (DP.mu held): it starts
// the scenario's clocks at the kiosk's first audio.
func (r *room) changedLocked() {
	d := r.dp
	d.notifyLocked()
	if r.heard || r.audio.Packets == 0 || r.state.ended() {
		return
	}
	r.heard = true
	sc := d.cfg.Scenario
	if sc.LeaveAfter > 0 {
		r.timers = append(r.timers, time.AfterFunc(sc.LeaveAfter, func() { r.act(EndLeft) }))
	}
	if sc.RemoveKioskAfter > 0 {
		r.timers = append(r.timers, time.AfterFunc(sc.RemoveKioskAfter, func() { r.act(EndKickedKiosk) }))
	}
	if sc.DeleteRoomAfter > 0 {
		r.timers = append(r.timers, time.AfterFunc(sc.DeleteRoomAfter, func() { r.act(EndDeletedRoom) }))
	}
	if sc.ConverseEvery > 0 {
		r.timers = append(r.timers, time.AfterFunc(sc.ConverseEvery, func() { r.converseStep(0) }))
	}
}

// act does one of the scenario's (or the admin API's) things to the room.
func (r *room) act(what string) error {
	d := r.dp
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.mu.Lock()
	kiosk := r.kiosk
	r.pending = what
	// The DP's time here ends now: a kiosk that joins from this moment
	// on (its fresh session, quick after a removal) is a new one.
	r.ended = time.Now()
	d.mu.Unlock()
	var err error
	switch what {
	case EndKickedKiosk:
		if kiosk == "" {
			return fmt.Errorf("no kiosk seen in room %s yet", r.name)
		}
		_, err = d.rooms.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: r.name, Identity: kiosk})
	case EndDeletedRoom:
		_, err = d.rooms.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: r.name})
	}
	if err != nil {
		d.mu.Lock()
		r.pending, r.ended = "", time.Time{}
		d.mu.Unlock()
		d.log.Warn("scenario action failed", "room", r.name, "action", what, "err", err)
		return err
	}
	d.log.Info("scenario action", "room", r.name, "action", what, "kiosk", kiosk)
	r.leave(what)
	return nil
}

func (r *room) signalStop() {
	r.once.Do(func() {
		if r.stop != nil {
			close(r.stop)
		}
	})
}

// leave ends the DP's time in the room (reason "" keeps the one set):
// the scenario's timers, the media, the connection. Safe to call more
// than once and from any goroutine but the SDK's callbacks.
func (r *room) leave(reason string) {
	d := r.dp
	d.mu.Lock()
	if !r.state.ended() {
		r.state = StateEnded
		if r.ended.IsZero() {
			r.ended = time.Now()
		}
		if r.pending != "" { // the DP's own action is why, whoever noticed first
			reason = r.pending
		}
		if reason != "" {
			r.endReason = reason
		}
		d.notifyLocked()
	}
	for _, t := range r.timers {
		t.Stop()
	}
	lk, av, srcs := r.lk, r.av, r.srcs
	r.lk, r.av, r.srcs = nil, nil, nil
	d.mu.Unlock()
	r.signalStop()
	if lk != nil {
		lk.Disconnect()
	}
	if av != nil { // after its agent, as an avatar worker leaves when it does
		av.Disconnect()
	}
	for _, s := range srcs {
		_ = s.Close()
	}
	r.wg.Wait()
}

// remote lists the other participants of r's room (none once left).
func remote(r *room) []*lksdk.RemoteParticipant {
	r.dp.mu.Lock()
	l := r.lk
	r.dp.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.GetRemoteParticipants()
}

// publish starts the DP's face and voice.
func (r *room) publish() error {
	d := r.dp
	cfg := d.cfg
	d.mu.Lock()
	lk := r.lk
	if r.av != nil {
		lk = r.av // the avatar publishes on the agent's behalf
	}
	d.mu.Unlock()
	if lk == nil {
		return nil
	}
	for _, video := range []bool{false, true} {
		var src mediadevices.Track
		var capab webrtc.RTPCodecCapability
		var clock time.Duration
		var opts *lksdk.TrackPublicationOptions
		if video {
			src = mediadevices.NewVideoTrack(synthetic.NewVideo(cfg.VideoWidth, cfg.VideoHeight, cfg.VideoFPS), d.selector)
			capab, clock = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, 90000
			opts = &lksdk.TrackPublicationOptions{Name: "face", Source: livekit.TrackSource_CAMERA,
				VideoWidth: cfg.VideoWidth, VideoHeight: cfg.VideoHeight}
		} else {
			src = mediadevices.NewAudioTrack(synthetic.NewTone(cfg.VoiceHz, 48000), d.selector)
			capab, clock = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, 48000
			opts = &lksdk.TrackPublicationOptions{Name: "voice", Source: livekit.TrackSource_MICROPHONE}
		}
		key := &atomic.Bool{}
		lt, err := lksdk.NewLocalTrack(capab, lksdk.WithRTCPHandler(func(p rtcp.Packet) {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				key.Store(true)
			}
		}))
		if err != nil {
			_ = src.Close()
			return err
		}
		d.mu.Lock()
		if r.state.ended() {
			d.mu.Unlock()
			_ = src.Close()
			return nil
		}
		r.srcs = append(r.srcs, src)
		r.wg.Add(1)
		d.mu.Unlock()
		if _, err := lk.LocalParticipant.PublishTrack(lt, opts); err != nil {
			r.wg.Done()
			return fmt.Errorf("publish: %w", err)
		}
		go func() {
			defer r.wg.Done()
			send(src, lt, capab.MimeType, clock, key)
		}()
	}
	return nil
}

// send encodes src and writes it to lt until src is closed.
func send(src mediadevices.Track, lt *lksdk.LocalTrack, mime string, clock time.Duration, key *atomic.Bool) {
	rd, err := src.NewEncodedReader(mime)
	if err != nil {
		return
	}
	defer rd.Close()
	kc, _ := rd.Controller().(codec.KeyFrameController)
	for {
		if key.Swap(false) && kc != nil {
			_ = kc.ForceKeyFrame()
		}
		buf, release, err := rd.Read()
		if err != nil {
			return
		}
		_ = lt.WriteSample(pionmedia.Sample{Data: buf.Data, Duration: time.Duration(buf.Samples) * time.Second / clock}, nil)
		release()
	}
}
