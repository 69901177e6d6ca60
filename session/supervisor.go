package session

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/internal/clock"
)

// ErrStepStuck is the cause of a sessionTimeout when a connection step
// outlived its deadline.
var ErrStepStuck = errors.New("session: connection step took too long")

// Config is the supervisor's policy (docs/BEHAVIOUR.md sections 2 to 5,
// configuration keys of section 13).
type Config struct {
	// Resume asks to resume the stored session on every (re)connect.
	Resume         bool
	StepTimeout    time.Duration // deadline of each connection step, default 20 s
	ConnectTimeout time.Duration // deadline from dial to Connected, default 60 s
	InitialDelay   time.Duration // backoff, default 1 s
	MaxDelay       time.Duration // backoff, default 30 s
	// ResetAfter: the backoff starts over once a session has stayed
	// Connected this long (default 30 s).
	ResetAfter time.Duration
}

// Options are the supervisor's collaborators.
type Options struct {
	Media MediaSource // nil: NoMedia
	Sink  MediaSink   // nil: the DP's media is dropped
	Store *Store      // nil: nothing persisted
	Clock clock.Clock // nil: wall clock
	Log   *slog.Logger
	Rand  func() float64 // backoff jitter; nil: math/rand
	// DeviceChanges says the devices (or the config) changed. It wakes a
	// supervisor parked after notSupported, and during a call it makes an
	// optional device that was missing and has appeared join the call
	// (see Supervisor.hotplug). May be nil.
	DeviceChanges <-chan struct{}
	// OnSessionID hears the session id of what follows whenever it changes
	// ("" when none): at each attempt's start (the id it asks to resume, or
	// none) and when the server names the session. It is called
	// synchronously, with the supervisor's lock held, before anything of
	// the attempt is logged or published: a log handler stamping the id
	// is never an attempt behind, as an observer of the bus would be. It
	// must not call back into the supervisor. May be nil.
	OnSessionID func(id string)
}

// Supervisor keeps a kiosk connected: it runs calls through its dialect,
// holds them to their deadlines, reacts to every error and disconnect as
// docs/BEHAVIOUR.md sections 2, 3 and 5 say, persists and resumes the
// session, and publishes every change to its subscribers.
type Supervisor struct {
	cfg     Config
	opts    Options
	dialect dialect.Dialect
	log     *slog.Logger
	bus     *contract.Bus
	alive   clock.Ticker // while Run waits: see wait

	mu       sync.Mutex
	snap     contract.Snapshot
	stored   Stored // the session to resume; kept in memory when the disk fails
	resumed  bool   // the current call resumed the stored session
	progress atomic.Int64
	backoff  Backoff
	relays   relays

	heardID string // the id OnSessionID heard last; under mu

	// Owned by Run's goroutine.
	asked     string // the session the last attempt asked to resume ("": none)
	immediate bool   // the last attempt was the immediate retry after noSessionToResume
	ownMedia  bool   // the last attempt failed opening the kiosk's devices, before any call
}

// New checks cfg and builds a supervisor that reaches the server through
// d; nothing runs until Run.
func New(cfg Config, d dialect.Dialect, opts Options) (*Supervisor, error) {
	if d == nil {
		return nil, errors.New("session: no dialect")
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 20 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 60 * time.Second
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
	s := &Supervisor{
		cfg: cfg, opts: opts, dialect: d, log: opts.Log, bus: contract.NewBus(),
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

// NetworkStats is what congestion control last allowed and measured on
// the calls' path (see NetworkStats); for metrics and status.
func (s *Supervisor) NetworkStats() NetworkStats { return s.relays.rate.get() }

// LastProgress is when the supervisor last showed it is alive; the systemd
// watchdog pings only while this is recent.
func (s *Supervisor) LastProgress() time.Time { return time.Unix(0, s.progress.Load()) }

func (s *Supervisor) touch() { s.progress.Store(s.opts.Clock.Now().UnixNano()) }

// progressTick is how often a waiting supervisor shows it is alive.
const progressTick = time.Second

// waitFor is what the supervisor waits for; a nil channel is not waited on.
type waitFor struct {
	stop    <-chan struct{}  // shutdown (the Run context)
	call    <-chan struct{}  // the call ended
	retry   <-chan time.Time // the backoff delay is over
	step    <-chan time.Time // a connection step's deadline
	connect <-chan time.Time // the whole connect's deadline
	devices <-chan struct{}  // the devices changed
}

// woke says what ended a wait.
type woke int

const (
	wokeStop woke = iota
	wokeCall
	wokeRetry
	wokeDeadline
	wokeDevices
)

// wait is the one place the supervisor waits, whether a call runs, a
// retry is due, or it is parked until the devices change. It shows it is
// alive every progressTick meanwhile: the systemd watchdog pings only
// while LastProgress is recent (docs/BEHAVIOUR.md section 5), so a
// supervisor stuck anywhere else stops the pings.
func (s *Supervisor) wait(w waitFor) woke {
	for {
		select {
		case <-w.stop:
			return wokeStop
		case <-w.call:
			return wokeCall
		case <-w.retry:
			return wokeRetry
		case <-w.step:
			return wokeDeadline
		case <-w.connect:
			return wokeDeadline
		case <-w.devices:
			return wokeDevices
		case <-s.alive.C():
			s.touch()
		}
	}
}

func (s *Supervisor) publish(e contract.Event) {
	e.Time = s.opts.Clock.Now()
	s.mu.Lock()
	if e.Kind == contract.EventConversation {
		if s.snap.Conversation == e.Conversation {
			s.mu.Unlock()
			return // once per change, never repeated
		}
		s.snap.Conversation = e.Conversation
	}
	e.Conversation = s.snap.Conversation
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
		s.snap.LastError, s.snap.LastDetail = e.ErrorName, e.ErrorDetail
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
	s.setSessionIDLocked(id)
	s.mu.Unlock()
}

// setSessionIDLocked makes id the current session id and tells
// OnSessionID at once, in the same critical section, so the two never
// disagree. s.mu is held.
func (s *Supervisor) setSessionIDLocked(id string) {
	s.snap.SessionID = id
	if f := s.opts.OnSessionID; f != nil && id != s.heardID {
		s.heardID = id
		f(id)
	}
}

// Run keeps the kiosk connected until ctx is cancelled, then closes the
// session with reason normal and returns nil. The stored session is kept,
// so a restart resumes it.
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.bus.Close()
	defer s.relays.closeAll()
	s.alive = s.opts.Clock.NewTicker(progressTick)
	defer s.alive.Stop()
	s.log.Info("session supervisor started", "dialect", s.dialect.Name())
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
// before the server is bothered), then the call until it ends, held to
// the connect deadlines.
func (s *Supervisor) attempt(ctx context.Context) dialect.Result {
	s.mu.Lock()
	s.snap.Attempt++
	resume := ""
	if s.cfg.Resume && s.stored.SessionID != "" && s.stored.ServerURL == s.dialect.Server() {
		resume = s.stored.SessionID
	}
	// Until the server names the session, lines carry the one being
	// resumed, or none: never the last attempt's.
	s.setSessionIDLocked(resume)
	s.resumed = false
	s.mu.Unlock()
	s.asked = resume
	s.ownMedia = false

	tracks, err := s.opts.Media.Tracks(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return dialect.Result{ByUs: true}
		}
		var ce *contract.ConnectError
		if !errors.As(err, &ce) {
			ce = contract.NewConnectError(contract.MediaStreamFailed, err)
		}
		s.ownMedia = true
		return dialect.Result{Err: ce}
	}
	var kinds []webrtc.RTPCodecType
	if mk, ok := s.opts.Media.(MediaKinds); ok {
		kinds = mk.Kinds()
	}
	slots, err := s.relays.forCall(kinds, tracks)
	if err != nil {
		return dialect.Result{Err: contract.NewConnectError(contract.MediaStreamFailed, err)}
	}
	dl := newDeadlines(s.opts.Clock, s.cfg.StepTimeout, s.cfg.ConnectTimeout)
	defer dl.stop()
	call := s.dialect.Start(ctx, dialect.Attempt{
		Resume: resume,
		Media:  newCallMedia(slots, s.opts.Sink, s.opts.Media.Failed()),
		Report: &reporter{s: s, resume: resume, deadlines: dl},
		Log:    s.log,
	})
	for {
		switch s.wait(waitFor{call: call.Done(), step: dl.step.C(), connect: dl.connect.C(), devices: s.opts.DeviceChanges}) {
		case wokeCall:
			res := call.Result()
			// What the DP was doing ended with the call.
			s.publish(contract.Event{Kind: contract.EventConversation, Conversation: contract.ConversationNone})
			s.publish(contract.Event{Kind: contract.EventState, State: contract.Disconnected})
			return res
		case wokeDevices:
			s.hotplug(ctx)
		case wokeDeadline:
			if ce := dl.expired(); ce != nil {
				call.Abort(ce.Name, ce.Err)
			}
		}
	}
}

// reporter hears one call's progress, on the call's goroutine, and
// publishes it.
type reporter struct {
	s         *Supervisor
	resume    string
	deadlines *deadlines
}

func (r *reporter) State(st contract.ConnectionState) {
	if st == contract.Disconnected {
		return // the supervisor reports Disconnected with how the call ended
	}
	r.deadlines.enter(st)
	s := r.s
	s.mu.Lock()
	resumed, id := s.resumed, s.snap.SessionID
	s.mu.Unlock()
	if st == contract.Connected {
		// Stored once Connected: a server only resumes what it has
		// delivered, so an earlier id would only be refused.
		s.remember(id)
	}
	s.publish(contract.Event{Kind: contract.EventState, State: st, Resumed: resumed && st == contract.Connected})
}

func (r *reporter) Session(id string, resumed bool) {
	s := r.s
	if r.resume != "" && !resumed {
		s.log.Info("server started a new session instead of resuming", "stored_session_id", r.resume)
	}
	s.mu.Lock()
	s.resumed = resumed
	s.mu.Unlock()
	s.setSessionID(id)
}

func (r *reporter) Conversation(c contract.ConversationState) {
	r.s.publish(contract.Event{Kind: contract.EventConversation, Conversation: c})
}

func (r *reporter) PathRestart(recovered bool, took time.Duration) {
	r.s.publish(contract.Event{Kind: contract.EventPathRestart, Recovered: recovered, Took: took})
}

func (r *reporter) Queue(pos int) {
	if pos > 0 {
		r.s.publish(contract.Event{Kind: contract.EventQueue, QueuePosition: pos})
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
// the call with mediaStreamFailed (docs/BEHAVIOUR.md section 7), which a
// new device does not.
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

// react applies docs/BEHAVIOUR.md sections 2 and 3 to how a call ended. It returns the
// delay before the next attempt and whether to wait at all.
func (s *Supervisor) react(ctx context.Context, res dialect.Result, flaps *int) (time.Duration, bool) {
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

	immediate := s.immediate
	s.immediate = false
	if res.Err != nil { // failed before Connected (docs/BEHAVIOUR.md section 2)
		s.publish(contract.Event{Kind: contract.EventConnectFailed, ErrorName: res.Err.Name, ErrorDetail: res.Err.Detail, Cause: res.Err.Err})
		switch res.Err.Name {
		case contract.NoSessionToResume:
			s.forget("the server can no longer resume it")
			if s.asked != "" && !immediate {
				s.immediate = true
				return 0, false // a fresh session at once, no backoff
			}
			// Nothing was resumed, or the fresh session dialled at once was
			// refused too: no server message bypasses the backoff.
			why := "the attempt resumed no session"
			if s.asked != "" {
				why = "the attempt dialled at once after the last refusal was refused too"
			}
			s.log.Warn("noSessionToResume cannot be answered at once again; backing off", "why", why)
		case contract.NotSupported:
			if s.ownMedia {
				s.parkUntilDevicesChange(ctx, res.Err)
				return 0, false
			}
			// Only the kiosk's own devices park it: a call that says
			// notSupported (its server, whatever the dialect) is retried.
			s.log.Warn("a call ended with notSupported; only the kiosk's own devices stop the retries, so backing off", "error", res.Err.Err)
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

	// A Connected session ended (docs/BEHAVIOUR.md section 3).
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
// devices ends the wait early: docs/BEHAVIOUR.md section 2 says to wait
// until the device appears, then retry, and a camera plugged back in
// should not wait out a 30 s backoff. No hot loop: the device watcher
// reports at most one change per poll, and a retry that fails again backs
// off further.
func (s *Supervisor) sleep(ctx context.Context, delay time.Duration, res dialect.Result) bool {
	// The timer runs before the retry is published, so whoever sees the
	// event (a test on a fake clock) can count on it.
	t := s.opts.Clock.NewTimer(delay)
	defer t.Stop()
	ev := contract.Event{Kind: contract.EventRetry, Delay: delay}
	if res.Err != nil {
		ev.ErrorName, ev.ErrorDetail = res.Err.Name, res.Err.Detail
	}
	s.publish(ev)
	var devices <-chan struct{}
	if res.MediaErr != nil || (res.Err != nil && (res.Err.Name == contract.NoUserMedia || res.Err.Name == contract.MediaStreamFailed)) {
		devices = s.opts.DeviceChanges
	}
	switch s.wait(waitFor{stop: ctx.Done(), retry: t.C(), devices: devices}) {
	case wokeStop:
		return false
	case wokeDevices:
		s.log.Info("the devices changed; retrying now instead of after the backoff", "backoff", delay.String())
	}
	return true
}

// parkUntilDevicesChange: notSupported is not retried until the devices or
// the config change (docs/BEHAVIOUR.md section 2). The supervisor stays
// alive meanwhile.
func (s *Supervisor) parkUntilDevicesChange(ctx context.Context, err error) {
	s.log.Error("device cannot be used; not retrying until the devices or the config change", "error_name", contract.NotSupported.String(), "error", err)
	if s.wait(waitFor{stop: ctx.Done(), devices: s.opts.DeviceChanges}) == wokeDevices {
		_ = s.opts.Media.Reset()
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
	st := Stored{SessionID: id, ServerURL: s.dialect.Server(), SavedAt: s.opts.Clock.Now()}
	s.mu.Lock()
	same := s.stored.SessionID == id && s.stored.ServerURL == st.ServerURL
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

// logEvent writes the log line of an event, with the fields of
// docs/BEHAVIOUR.md section 9. It is the one place events are logged, and
// runs synchronously in publish, so the lines are in the events' order.
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
		attrs = appendDetail(attrs, e.ErrorDetail)
		if e.Cause != nil {
			attrs = append(attrs, "error", e.Cause.Error())
		}
		s.log.Warn("connect failed: "+contract.DescribeError(e.ErrorName, e.ErrorDetail), attrs...)
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
			attrs = appendDetail(attrs, e.ErrorDetail)
		}
		s.log.Info("retrying", attrs...)
	case contract.EventConversation:
		attrs = append(attrs, "conversation_state", e.Conversation.String())
		s.log.Info("conversation state "+e.Conversation.String(), attrs...)
	case contract.EventStopped:
		s.log.Info("session supervisor stopped", attrs...)
	case contract.EventPathRestart:
		// Logged by the dialect, with what only it knows (the candidate
		// pair, why it restarted): one line, not two.
	}
}

// appendDetail adds error_detail (ERROR_DETAIL in the journal,
// docs/BEHAVIOUR.md section 9) when the error name has one.
func appendDetail(attrs []any, d contract.ErrorDetail) []any {
	if d == contract.NoDetail {
		return attrs
	}
	return append(attrs, "error_detail", d.String())
}

// Connect waits until the supervisor (running in Run) is Connected and
// returns the session id, or returns the first connect failure of
// docs/BEHAVIOUR.md section 2 as a *ConnectError (use errors.As, or errors.Is with
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
				return "", contract.NewConnectErrorDetail(e.ErrorName, e.ErrorDetail, e.Cause)
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
