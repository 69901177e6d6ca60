package systemd

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kioskd/kioskd/internal/clock"
)

// Errors returned by NewWatchdog and Watchdog.Run.
var (
	ErrNoInterval = errors.New("systemd: watchdog interval must be positive")
	ErrNoLiveness = errors.New("systemd: watchdog needs a liveness source (LastProgress)")
	ErrClosed     = errors.New("systemd: watchdog closed")
	ErrRunning    = errors.New("systemd: watchdog already running")
)

// WatchdogConfig configures a Watchdog.
type WatchdogConfig struct {
	// Interval is WatchdogSec as returned by WatchdogInterval. The watchdog
	// pings every Interval/2 while the supervisor is live.
	Interval time.Duration
	// LastProgress returns when the supervisor last made progress (in
	// kioskd, the session supervisor's LastProgress). Required.
	LastProgress func() time.Time
	// MaxStall is how old the last progress may be before the pings stop.
	// Zero means Interval. The supervisor must report progress more often.
	MaxStall time.Duration
	// Clock defaults to clock.Real.
	Clock clock.Clock
	// Notifier defaults to SdNotifier ($NOTIFY_SOCKET).
	Notifier Notifier
	// Logger, if set, gets one line when pings stop and one when they resume.
	Logger *slog.Logger
}

// Watchdog sends WATCHDOG=1 every Interval/2, but only while the supervisor
// makes progress. A wedged supervisor stops the pings, and systemd
// (WatchdogSec=) restarts the service, which then resumes the persisted
// session (docs/BEHAVIOUR.md section 5).
type Watchdog struct {
	cfg    WatchdogConfig
	period time.Duration

	mu      sync.Mutex
	closed  bool
	active  bool
	done    chan struct{}
	running sync.WaitGroup

	// owned by the Run goroutine
	stalled bool
	failing bool
}

// NewWatchdog checks cfg and returns a Watchdog; call Run to start it.
func NewWatchdog(cfg WatchdogConfig) (*Watchdog, error) {
	if cfg.Interval <= 0 {
		return nil, ErrNoInterval
	}
	if cfg.LastProgress == nil {
		return nil, ErrNoLiveness
	}
	if cfg.MaxStall <= 0 {
		cfg.MaxStall = cfg.Interval
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Notifier == nil {
		cfg.Notifier = SdNotifier
	}
	period := cfg.Interval / 2
	if period <= 0 {
		period = cfg.Interval
	}
	return &Watchdog{cfg: cfg, period: period, done: make(chan struct{})}, nil
}

// Period is how often the watchdog checks liveness and pings: Interval/2.
func (w *Watchdog) Period() time.Duration { return w.period }

// Run checks liveness at once and then every Period, pinging while the
// supervisor is live. It returns ctx.Err() when ctx is done, nil after
// Close, ErrClosed if the watchdog was already closed and ErrRunning if
// another Run is active.
func (w *Watchdog) Run(ctx context.Context) error {
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case w.active:
		w.mu.Unlock()
		return ErrRunning
	}
	w.active = true
	w.running.Add(1)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.active = false
		w.mu.Unlock()
		w.running.Done()
	}()

	w.check()
	// A timer re-armed after each check, not a ticker: a slow check never
	// queues a burst of pings, and a fake clock sees each re-arm.
	t := w.cfg.Clock.NewTimer(w.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.done:
			return nil
		case <-t.C():
			w.check()
			t.Reset(w.period)
		}
	}
}

// Close stops Run and waits for it to return. It is safe to call more than once.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.done)
	}
	w.mu.Unlock()
	w.running.Wait()
	return nil
}

func (w *Watchdog) check() {
	now := w.cfg.Clock.Now()
	age := now.Sub(w.cfg.LastProgress())
	if age > w.cfg.MaxStall {
		if !w.stalled {
			w.stalled = true
			w.log(slog.LevelError, "session supervisor made no progress; withholding watchdog pings so systemd restarts kioskd",
				slog.Duration("since_progress", age), slog.Duration("max_stall", w.cfg.MaxStall))
		}
		return
	}
	if w.stalled {
		w.stalled = false
		w.log(slog.LevelWarn, "session supervisor made progress again; watchdog pings resumed")
	}
	_, err := w.cfg.Notifier.Notify("WATCHDOG=1")
	switch {
	case err != nil && !w.failing:
		w.failing = true
		w.log(slog.LevelWarn, "watchdog ping failed", slog.Any("error", err))
	case err == nil && w.failing:
		w.failing = false
		w.log(slog.LevelInfo, "watchdog pings delivered again")
	}
}

func (w *Watchdog) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if w.cfg.Logger != nil {
		w.cfg.Logger.LogAttrs(context.Background(), level, msg, attrs...)
	}
}
