package lkdp

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/mediadevices"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpwire"
)

// DP is the Digital Person of a LiveKit server: it joins the kiosks'
// rooms as they appear (Run) and records one RoomInfo per room.
type DP struct {
	cfg      Config
	log      *slog.Logger
	rooms    *lksdk.RoomServiceClient
	selector *mediadevices.CodecSelector

	mu sync.Mutex
	// dispatch is the agents the latest token request for a room
	// dispatched (room_config.agents), by room name; dispatchOrder
	// bounds it to HistoryLimit rooms, oldest dropped first.
	dispatch      map[string][]string
	dispatchOrder []string
	bySID         map[string]*room
	order         []*room // oldest first, for the admin API
	stats         Stats
	changed       chan struct{}
	closed        bool
	wg            sync.WaitGroup
}

// Stats counts what the DP did, over its life.
type Stats struct {
	// Polls counts the room listings that succeeded.
	Polls     int `json:"polls"`
	RoomsSeen int `json:"rooms_seen"`
	Joins     int `json:"joins"`
	// JoinErrors counts joins that failed (the room gone, the server down).
	JoinErrors int `json:"join_errors"`
	// ListErrors counts RoomService calls that failed while watching.
	ListErrors int `json:"list_errors"`
	// The token endpoint's requests: all, answered with a token, refused
	// on purpose (the scenario) and refused for a wrong credential or a
	// bad request.
	TokenRequests int `json:"token_requests"`
	TokensIssued  int `json:"tokens_issued"`
	TokensRefused int `json:"tokens_refused"`
	TokensBad     int `json:"tokens_bad"`
}

// New checks cfg and builds the DP; Run starts it.
func New(cfg Config, log *slog.Logger) (*DP, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sel, err := dpsim.Codecs(cfg.VideoBitrate)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DP{
		cfg: cfg, log: log, selector: sel,
		rooms: lksdk.NewRoomServiceClient(httpURL(cfg.URL), cfg.APIKey, cfg.APISecret),
		bySID: map[string]*room{}, changed: make(chan struct{}), dispatch: map[string][]string{},
	}, nil
}

// Config is the DP's configuration with its defaults.
func (d *DP) Config() Config {
	c := d.cfg
	c.APISecret = "" // never handed out
	return c
}

// httpURL is the RoomService's base URL of a ws:// or wss:// server URL.
func httpURL(ws string) string {
	u, _ := url.Parse(ws)
	if u.Scheme == "wss" {
		u.Scheme = "https"
	} else {
		u.Scheme = "http"
	}
	u.Path, u.RawQuery = strings.TrimSuffix(u.Path, "/"), ""
	return u.String()
}

// Run watches the server's rooms until ctx ends, then leaves every room
// and waits for its goroutines. A RoomService that cannot be reached is
// counted and tried again at the next poll.
func (d *DP) Run(ctx context.Context) error {
	defer d.shutdown()
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	failing := false
	for {
		if err := d.poll(ctx); err != nil && ctx.Err() == nil {
			d.mu.Lock()
			d.stats.ListErrors++
			d.mu.Unlock()
			if !failing {
				d.log.Warn("cannot list the LiveKit rooms; trying again", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll lists the rooms once and takes on each one a kiosk waits in (a
// room is known by its SID: a room deleted and made again under the same
// name is a new one).
func (d *DP) poll(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := d.rooms.ListRooms(cctx, &livekit.ListRoomsRequest{})
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.stats.Polls++
	d.notifyLocked()
	d.mu.Unlock()
	for _, r := range res.Rooms {
		d.mu.Lock()
		prev, closed := d.bySID[r.Sid], d.closed
		d.mu.Unlock()
		if closed {
			return nil
		}
		if !d.wanted(ctx, r.Name, prev) {
			continue
		}
		d.mu.Lock()
		rm := d.newRoomLocked(r.Name, r.Sid)
		rm.dispatch = d.dispatch[r.Name]
		dispatched := d.cfg.AgentName == "" || slices.Contains(rm.dispatch, d.cfg.AgentName)
		d.mu.Unlock()
		d.log.Info("a kiosk is in a room", "room", r.Name, "room_sid", r.Sid, "dispatch", rm.dispatch)
		if d.cfg.Scenario.NeverJoin {
			d.setState(rm, StateIgnored, "")
			continue
		}
		if !dispatched {
			// A named LiveKit agent goes only where it is dispatched.
			d.log.Info("the room's token request did not dispatch this agent: not joining", "room", r.Name, "agent_name", d.cfg.AgentName)
			d.setState(rm, StateIgnored, "")
			continue
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			rm.run(ctx)
		}()
	}
	return nil
}

// wanted says whether the DP should join room name: when a participant
// that is not an agent (a kiosk) is in it, and the DP has not been in it
// before (prev, the latest record of the room's SID, is nil) or its time
// there has ended and that participant joined since (a kiosk's fresh
// session in the same room, as with a static token; not the kiosk that
// lingers a moment after the DP left). ListRooms's participant count lags
// by seconds, so the participants are listed.
func (d *DP) wanted(ctx context.Context, name string, prev *room) bool {
	var since int64 // ms
	if prev != nil {
		d.mu.Lock()
		ended, at, reason := prev.state.ended(), prev.ended, prev.endReason
		d.mu.Unlock()
		if !ended || reason == EndShutdown {
			return false
		}
		since = at.UnixMilli()
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := d.rooms.ListParticipants(cctx, &livekit.ListParticipantsRequest{Room: name})
	if err != nil {
		return false
	}
	for _, p := range res.Participants {
		if p.Kind != livekit.ParticipantInfo_AGENT && p.JoinedAtMs > since {
			return true
		}
	}
	return false
}

func (d *DP) newRoomLocked(name, sid string) *room {
	rm := &room{dp: d, name: name, sid: sid, created: time.Now(), state: StateWaiting, audio: dpsim.NewAudioStats(),
		stop: make(chan struct{})}
	d.bySID[sid] = rm
	d.order = append(d.order, rm)
	d.stats.RoomsSeen++
	// Keep the newest HistoryLimit ended rooms; live ones always stay.
	if ended := len(d.order) - d.cfg.HistoryLimit; ended > 0 {
		kept := d.order[:0]
		for _, r := range d.order {
			if ended > 0 && r.state.ended() {
				ended--
				continue
			}
			kept = append(kept, r)
		}
		d.order = kept
	}
	d.notifyLocked()
	return rm
}

func (d *DP) setState(rm *room, st State, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rm.state.ended() {
		return
	}
	rm.state = st
	if st.ended() && rm.ended.IsZero() {
		rm.ended = time.Now()
	}
	if reason != "" {
		rm.endReason = reason
	}
	d.notifyLocked()
}

func (d *DP) notifyLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// Changed is closed at the next change of any room or of Stats.
func (d *DP) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

// Rooms lists every room the DP has seen, oldest first.
func (d *DP) Rooms() []RoomInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]RoomInfo, 0, len(d.order))
	for _, r := range d.order {
		out = append(out, r.infoLocked())
	}
	return out
}

// Stats is what the DP counted so far.
func (d *DP) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// live returns the rooms the DP is in whose name is name ("" every one).
func (d *DP) live(name string) []*room {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*room
	for _, r := range d.order {
		if (name == "" || r.name == name) && !r.state.ended() {
			out = append(out, r)
		}
	}
	return out
}

func (d *DP) shutdown() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	for _, r := range d.live("") {
		r.leave(EndShutdown)
	}
	d.wg.Wait()
}

// rememberDispatchLocked keeps the agents a token request for room
// dispatched (none: the room has no explicit dispatch).
func (d *DP) rememberDispatchLocked(room string, agents []string) {
	if _, ok := d.dispatch[room]; !ok {
		d.dispatchOrder = append(d.dispatchOrder, room)
		if len(d.dispatchOrder) > d.cfg.HistoryLimit {
			delete(d.dispatch, d.dispatchOrder[0])
			d.dispatchOrder = d.dispatchOrder[1:]
		}
	}
	d.dispatch[room] = agents
}

// token mints an access token of the DP's for room: an AGENT, so that a
// kiosk that looks for "the first agent participant" finds it, that
// joins with lk.agent.state initializing (as a LiveKit agent starts) and
// may update its own attributes (the conversation state).
func (d *DP) token(room string) (string, error) {
	g := &auth.VideoGrant{RoomJoin: true, Room: room}
	g.SetCanUpdateOwnMetadata(true)
	at := auth.NewAccessToken(d.cfg.APIKey, d.cfg.APISecret).
		SetVideoGrant(g).
		SetIdentity(d.cfg.Identity).SetName("Digital Person (dpsim)").
		SetAttributes(map[string]string{AttrAgentState: dpwire.ConversationInitializing}).
		SetKind(livekit.ParticipantInfo_AGENT).SetValidFor(time.Hour)
	return at.ToJWT()
}

// AttrPublishOnBehalf names, on an avatar participant, the agent it
// publishes for.
const AttrPublishOnBehalf = "lk.publish_on_behalf"

// avatarIdentity is the avatar participant's identity (Config.Avatar).
func (d *DP) avatarIdentity() string { return d.cfg.Identity + "-avatar" }

// avatarToken mints the avatar's token for room: an AGENT that publishes
// on the DP's (the agent's) behalf, as LiveKit Agents' avatar workers'
// tokens say.
func (d *DP) avatarToken(room string) (string, error) {
	g := &auth.VideoGrant{RoomJoin: true, Room: room}
	at := auth.NewAccessToken(d.cfg.APIKey, d.cfg.APISecret).
		SetVideoGrant(g).
		SetIdentity(d.avatarIdentity()).SetName("Digital Person's avatar (dpsim)").
		SetAttributes(map[string]string{AttrPublishOnBehalf: d.cfg.Identity}).
		SetKind(livekit.ParticipantInfo_AGENT).SetValidFor(time.Hour)
	return at.ToJWT()
}
