package session

import (
	"github.com/kioskd/kioskd/rtc"

	"github.com/kioskd/kioskd/dpwire"

	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/session/signalling"
)

// Config is the supervisor's policy (SPEC sections 2-5, config keys of 13).
type Config struct {
	URL            string
	Token          string // secret; never logged
	Dial           signalling.DialConfig
	Resume         bool
	Heartbeat      time.Duration
	StepTimeout    time.Duration
	ConnectTimeout time.Duration
	InitialDelay   time.Duration // backoff, default 1 s
	MaxDelay       time.Duration // backoff, default 30 s
	// ResetAfter: the backoff starts over once a session has stayed
	// Connected this long (default 30 s).
	ResetAfter time.Duration
	Client     dpwire.ClientInfo
	Peer       rtc.PeerOptions
}

// Options are the supervisor's collaborators.
type Options struct {
	Dialect signalling.Dialect // nil: the open protocol over WebSocket
	Media   MediaSource        // nil: NoMedia
	Sink    MediaSink          // nil: the DP's media is dropped
	Store   *Store             // nil: nothing persisted
	Clock   clock.Clock        // nil: wall clock
	Log     *slog.Logger
	Rand    func() float64 // backoff jitter; nil: math/rand
	// DeviceChanges says the devices (or the config) changed. It wakes a
	// supervisor parked after notSupported, and during a call it makes an
	// optional device that was missing and has appeared join the call
	// (see Supervisor.hotplug). May be nil.
	DeviceChanges <-chan struct{}
}

// Supervisor keeps a kiosk connected: it connects, reacts to every error
// and disconnect as SPEC sections 2, 3 and 5 say, persists and resumes the
// session, and publishes every change to its subscribers.
type Supervisor struct {
	cfg  Config
	opts Options
	log  *slog.Logger
	api  *webrtc.API
	bus  *contract.Bus

	mu       sync.Mutex
	snap     contract.Snapshot
	stored   Stored // the session to resume; kept in memory when the disk fails
	resumed  bool   // the current call resumed the stored session
	progress atomic.Int64
	backoff  Backoff
	relays   relays
}

// New checks cfg and builds a supervisor; nothing runs until Run.
func New(cfg Config, opts Options) (*Supervisor, error) {
	if cfg.URL == "" {
		return nil, errors.New("session: no server URL")
	}
	if cfg.InitialDelay <= 0 {
		cfg.InitialDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 30 * time.Second
	}
	if cfg.MaxDelay < cfg.InitialDelay {
		cfg.MaxDelay = cfg.InitialDelay
	}
	if cfg.ResetAfter <= 0 {
		cfg.ResetAfter = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Media == nil {
		opts.Media = NoMedia{}
	}
	if opts.Dialect == nil {
		opts.Dialect = &signalling.WebSocket{Clock: opts.Clock}
	}
	api, err := rtc.NewWebRTCAPI(cfg.Peer)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg: cfg, opts: opts, log: opts.Log, api: api, bus: contract.NewBus(),
		backoff: Backoff{Initial: cfg.InitialDelay, Max: cfg.MaxDelay, Rand: opts.Rand},
	}
	s.snap.Since = opts.Clock.Now()
	s.touch()
	return s, nil
}

// Subscribe returns every event from now on (see Bus.Subscribe).
func (s *Supervisor) Subscribe() (<-chan contract.Event, func()) { return s.bus.Subscribe() }

// Snapshot is the current condition.
func (s *Supervisor) Snapshot() contract.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

// SendStats is what the calls sent so far (see SendStats); for metrics.
func (s *Supervisor) SendStats() SendStats { return s.relays.sent() }

// LastProgress is when the supervisor last showed it is alive; the systemd
// watchdog pings only while this is recent.
func (s *Supervisor) LastProgress() time.Time { return time.Unix(0, s.progress.Load()) }

func (s *Supervisor) touch() { s.progress.Store(s.opts.Clock.Now().UnixNano()) }

// progressTick is how often a waiting supervisor shows it is alive.
const progressTick = time.Second

func (s *Supervisor) publish(e contract.Event) {
	e.Time = s.opts.Clock.Now()
	s.mu.Lock()
	if e.Kind == contract.EventState {
		if s.snap.State == e.State {
			s.mu.Unlock()
			return // once per change, never repeated
		}
		s.snap.State = e.State
		s.snap.Since = e.Time
		s.snap.NextRetry = time.Time{}
		if e.State == contract.Connected {
			s.snap.Connects++
			s.snap.QueuePosition = 0
		}
	}
	e.State = s.snap.State
	if e.SessionID == "" {
		e.SessionID = s.snap.SessionID
	}
	switch e.Kind {
	case contract.EventQueue:
		s.snap.QueuePosition = e.QueuePosition
	case contract.EventConnectFailed, contract.EventMediaFailed:
		s.snap.LastError = e.ErrorName
	case contract.EventDisconnected:
		s.snap.LastReason = e.Reason
	case contract.EventRetry:
		s.snap.NextRetry = e.Time.Add(e.Delay)
	}
	e.Attempt = s.snap.Attempt
	s.mu.Unlock()
	s.touch()
	s.bus.Publish(e)
	s.logEvent(e)
}

func (s *Supervisor) setSessionID(id string) {
	s.mu.Lock()
	s.snap.SessionID = id
	s.mu.Unlock()
}

// Run keeps the kiosk connected until ctx is cancelled, then closes the
// session with reason normal and returns nil. The stored session is kept,
// so a restart resumes it.
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.bus.Close()
	defer s.relays.closeAll()
	s.loadStored()
	flaps := 0
	for {
		if ctx.Err() != nil {
			break
		}
		res := s.attempt(ctx)
		if res.ByUs && ctx.Err() != nil {
			if res.Connected.IsZero() {
				break
			}
			s.publish(contract.Event{Kind: contract.EventDisconnected, Reason: contract.ReasonNormal, ByUs: true, SessionID: res.SessionID})
			break
		}
		delay, wait := s.react(ctx, res, &flaps)
		if !wait {
			continue
		}
		if !s.sleep(ctx, delay, res) {
			break
		}
	}
	s.publish(contract.Event{Kind: contract.EventState, State: contract.Disconnected})
	s.publish(contract.Event{Kind: contract.EventStopped})
	return nil
}

// attempt runs one call: media first (a missing required device fails
// before the server is bothered), then the call until it ends.
func (s *Supervisor) attempt(ctx context.Context) CallResult {
	s.mu.Lock()
	s.snap.Attempt++
	resume := ""
	if s.cfg.Resume && s.stored.SessionID != "" && s.stored.ServerURL == s.cfg.URL {
		resume = s.stored.SessionID
	}
	// Until the server names the session, lines carry the one being resumed (or none).
	s.snap.SessionID = resume
	s.resumed = false
	s.mu.Unlock()

	tracks, err := s.opts.Media.Tracks(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return CallResult{ByUs: true}
		}
		var ce *contract.ConnectError
		if !errors.As(err, &ce) {
			ce = contract.NewConnectError(contract.MediaStreamFailed, err)
		}
		return CallResult{Err: ce}
	}
	var kinds []webrtc.RTPCodecType
	if mk, ok := s.opts.Media.(MediaKinds); ok {
		kinds = mk.Kinds()
	}
	relays, err := s.relays.forCall(kinds, tracks)
	if err != nil {
		return CallResult{Err: contract.NewConnectError(contract.MediaStreamFailed, err)}
	}
	call := StartCall(ctx, CallConfig{
		URL: s.cfg.URL, Token: s.cfg.Token, Dial: s.cfg.Dial, Heartbeat: s.cfg.Heartbeat,
		StepTimeout: s.cfg.StepTimeout, ConnectTimeout: s.cfg.ConnectTimeout,
		Resume: resume, Client: s.cfg.Client,
	}, CallDeps{
		Dialect: s.opts.Dialect, API: s.api, Tracks: relays, Sink: s.opts.Sink,
		Media: s.opts.Media.Failed(), Clock: s.opts.Clock, Log: s.log, Peer: s.cfg.Peer,
		OnState: func(st contract.ConnectionState) {
			if st == contract.Disconnected {
				return // the supervisor reports Disconnected with the reason, below
			}
			s.mu.Lock()
			resumed, id := s.resumed, s.snap.SessionID
			s.mu.Unlock()
			if st == contract.Connected {
				// Stored once Connected: a server only resumes what it
				// has delivered, so an earlier id would only be refused.
				s.remember(id)
			}
			s.publish(contract.Event{Kind: contract.EventState, State: st, Resumed: resumed && st == contract.Connected})
		},
		OnSession: func(id string, resumed bool) {
			if resume != "" && !resumed {
				s.log.Info("server started a new session instead of resuming", "stored_session_id", resume)
			}
			s.mu.Lock()
			s.resumed = resumed
			s.mu.Unlock()
			s.setSessionID(id)
		},
		OnQueue: func(pos int) {
			if pos > 0 {
				s.publish(contract.Event{Kind: contract.EventQueue, QueuePosition: pos})
			}
		},
	})
	// Show liveness while the call runs.
	tick := s.opts.Clock.NewTicker(progressTick)
	defer tick.Stop()
	for {
		select {
		case <-call.Done():
			res := call.Result()
			s.publish(contract.Event{Kind: contract.EventState, State: contract.Disconnected})
			return res
		case <-s.opts.DeviceChanges:
			s.hotplug(ctx)
		case <-tick.C():
			s.touch()
		}
	}
}

// hotplug: the devices changed during a call. An optional device that was
// missing when the call started and is there now is opened and its capture
// bound to the call's send track of its kind, which was offered empty (see
// MediaKinds and relay): the server sees media start on the same
// PeerConnection, the session and the connection state do not change.
//
// This was chosen over resuming the session with a new call that includes
// the device (as after controlDisconnected): that would take the LEDs and
// the status through Disconnected and every connection step, and cut the
// visitor's conversation with the DP for a few hundred milliseconds, only
// because a camera was plugged in. A device lost mid-session still ends
// the call with mediaStreamFailed (SPEC 7), which a new device does not.
func (s *Supervisor) hotplug(ctx context.Context) {
	tracks, err := s.opts.Media.Tracks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("the devices changed but cannot be opened mid-session; trying again at the next change or connect", "error", err)
		}
		return
	}
	bound, err := s.relays.bindNew(tracks)
	id := s.Snapshot().SessionID
	if err != nil {
		s.log.Warn("a device appeared but its track cannot be sent; trying again at the next connect", "session_id", id, "error", err)
	}
	for _, t := range bound {
		s.log.Info("a "+t.Kind().String()+" device appeared mid-session; sending it on the current connection", "session_id", id, "kind", t.Kind().String())
	}
	s.touch()
}

// react applies SPEC sections 2 and 3 to how a call ended. It returns the
// delay before the next attempt and whether to wait at all.
func (s *Supervisor) react(ctx context.Context, res CallResult, flaps *int) (time.Duration, bool) {
	connectedFor := time.Duration(0)
	if !res.Connected.IsZero() {
		connectedFor = res.Ended.Sub(res.Connected)
		if connectedFor >= s.cfg.ResetAfter {
			s.backoff.Reset()
		}
		s.mu.Lock()
		s.snap.Attempt = 0
		s.mu.Unlock()
	}

	if res.Err != nil { // failed before Connected (SPEC section 2)
		s.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: res.Err.Name, Cause: res.Err.Err})
		switch res.Err.Name {
		case contract.NoSessionToResume:
			s.forget("the server can no longer resume it")
			return 0, false // a fresh session at once, no backoff
		case contract.NotSupported:
			s.parkUntilDevicesChange(ctx, res.Err)
			return 0, false
		case contract.MediaStreamFailed:
			_ = s.opts.Media.Reset()
		}
		return s.backoff.Next(), true
	}

	if res.MediaErr != nil { // our media failed while Connected
		s.publish(contract.Event{Kind: contract.EventMediaFailed, ErrorName: contract.MediaStreamFailed, Cause: res.MediaErr, SessionID: res.SessionID})
		_ = s.opts.Media.Reset()
		return s.backoff.Next(), true
	}

	// A Connected session ended (SPEC section 3).
	ev := contract.Event{Kind: contract.EventDisconnected, Reason: res.Reason, ByUs: res.ByUs, SessionID: res.SessionID}
	if res.TakenOver {
		ev.ErrorName = contract.NoSessionToResume
		s.forget("the server gave it to another connection")
	}
	s.publish(ev)
	// Guard against a server that connects and drops at once, forever:
	// the first quick drop is answered at once, the next ones with backoff.
	if connectedFor < 5*time.Second {
		*flaps++
	} else {
		*flaps = 0
	}
	quick := *flaps > 1
	switch res.Reason {
	case contract.ReasonSessionTimeout, contract.ReasonConversationEnded:
		s.forget("the session ended (" + res.Reason.String() + ")")
	case contract.ReasonControlDisconnected, contract.ReasonNormal:
		// resume the same session
	}
	if quick {
		return s.backoff.Next(), true
	}
	return 0, false
}

// sleep waits delay (publishing the retry) or until ctx ends. After a
// missing or lost device (noUserMedia, mediaStreamFailed) a change of the
// devices ends the wait early: SPEC 2 says to wait until the device
// appears, then retry, and a camera plugged back in should not wait out a
// 30 s backoff. No hot loop: the device watcher reports at most one change
// per poll, and a retry that fails again backs off further.
func (s *Supervisor) sleep(ctx context.Context, delay time.Duration, res CallResult) bool {
	ev := contract.Event{Kind: contract.EventRetry, Delay: delay}
	if res.Err != nil {
		ev.ErrorName = res.Err.Name
	}
	s.publish(ev)
	var devices <-chan struct{}
	if res.MediaErr != nil || (res.Err != nil && (res.Err.Name == contract.NoUserMedia || res.Err.Name == contract.MediaStreamFailed)) {
		devices = s.opts.DeviceChanges
	}
	t := s.opts.Clock.NewTimer(delay)
	defer t.Stop()
	tick := s.opts.Clock.NewTicker(progressTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C():
			return true
		case <-devices:
			s.log.Info("the devices changed; retrying now instead of after the backoff", "backoff", delay.String())
			return true
		case <-tick.C():
			s.touch()
		}
	}
}

// parkUntilDevicesChange: notSupported is not retried until the devices or
// the config change (SPEC section 2). The supervisor stays alive meanwhile.
func (s *Supervisor) parkUntilDevicesChange(ctx context.Context, err error) {
	s.log.Error("device cannot be used; not retrying until the devices or the config change", "error_name", contract.NotSupported.String(), "error", err)
	tick := s.opts.Clock.NewTicker(progressTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.opts.DeviceChanges:
			_ = s.opts.Media.Reset()
			return
		case <-tick.C():
			s.touch()
		}
	}
}

func (s *Supervisor) loadStored() {
	if s.opts.Store == nil || !s.cfg.Resume {
		return
	}
	st, err := s.opts.Store.Load()
	switch {
	case errors.Is(err, ErrNoStoredSession):
	case err != nil:
		s.log.Warn("stored session unusable; starting a fresh session", "path", s.opts.Store.Path(), "error", err)
	default:
		s.mu.Lock()
		s.stored = st
		s.mu.Unlock()
		s.log.Info("stored session found; will ask to resume it", "stored_session_id", st.SessionID)
	}
}

// remember stores id for resumption. A failed write is a warning: the id
// stays in memory, and what was on disk before stays intact.
func (s *Supervisor) remember(id string) {
	st := Stored{SessionID: id, ServerURL: s.cfg.URL, SavedAt: s.opts.Clock.Now()}
	s.mu.Lock()
	same := s.stored.SessionID == id && s.stored.ServerURL == s.cfg.URL
	s.stored = st
	s.mu.Unlock()
	if s.opts.Store == nil || !s.cfg.Resume || same {
		return
	}
	if err := s.opts.Store.Save(st); err != nil {
		s.log.Warn("cannot store the session; keeping it in memory", "path", s.opts.Store.Path(), "error", err)
	}
}

func (s *Supervisor) forget(why string) {
	s.mu.Lock()
	old := s.stored.SessionID
	s.stored = Stored{}
	s.mu.Unlock()
	if old != "" {
		s.log.Info("forgetting the stored session", "stored_session_id", old, "why", why)
	}
	if s.opts.Store != nil {
		if err := s.opts.Store.Forget(); err != nil {
			s.log.Warn("cannot remove the stored session file", "path", s.opts.Store.Path(), "error", err)
		}
	}
}

// logEvent writes the log line of an event, with the fields of SPEC section 9.
func (s *Supervisor) logEvent(e contract.Event) {
	attrs := []any{}
	if e.SessionID != "" {
		attrs = append(attrs, "session_id", e.SessionID)
	}
	d := e.State.Data()
	switch e.Kind {
	case contract.EventState:
		attrs = append(attrs, "connection_state", d.Name, "current_step", d.CurrentStep, "percentage_loaded", d.PercentageLoaded)
		s.log.Info("connection state "+d.Name, attrs...)
	case contract.EventQueue:
		attrs = append(attrs, "queue_position", e.QueuePosition)
		s.log.Info("waiting in the server's queue", attrs...)
	case contract.EventConnectFailed:
		attrs = append(attrs, "error_name", e.ErrorName.String())
		if e.Cause != nil {
			attrs = append(attrs, "error", e.Cause.Error())
		}
		s.log.Warn("connect failed: "+e.ErrorName.String(), attrs...)
	case contract.EventMediaFailed:
		attrs = append(attrs, "error_name", e.ErrorName.String())
		if e.Cause != nil {
			attrs = append(attrs, "error", e.Cause.Error())
		}
		s.log.Error("media failed: "+e.ErrorName.String(), attrs...)
	case contract.EventDisconnected:
		attrs = append(attrs, "disconnect_reason", e.Reason.String(), "by_kioskd", e.ByUs)
		s.log.Info("disconnected: "+e.Reason.String(), attrs...)
	case contract.EventRetry:
		attrs = append(attrs, "retry_in", e.Delay.Round(time.Millisecond).String())
		if e.ErrorName != contract.NoError {
			attrs = append(attrs, "error_name", e.ErrorName.String())
		}
		s.log.Info("retrying", attrs...)
	case contract.EventStopped:
		s.log.Info("session supervisor stopped", attrs...)
	}
}

// Connect waits until the supervisor (running in Run) is Connected and
// returns the session id, or returns the first connect failure of SPEC
// section 2 as a *ConnectError (use errors.As, or errors.Is with
// ErrNoScene and friends). The supervisor goes on retrying either way.
func (s *Supervisor) Connect(ctx context.Context) (string, error) {
	events, cancel := s.Subscribe()
	defer cancel()
	if snap := s.Snapshot(); snap.State == contract.Connected {
		return snap.SessionID, nil
	}
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return "", errors.New("session: supervisor stopped")
			}
			switch e.Kind {
			case contract.EventState:
				if e.State == contract.Connected {
					return e.SessionID, nil
				}
			case contract.EventConnectFailed:
				return "", contract.NewConnectError(e.ErrorName, e.Cause)
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
