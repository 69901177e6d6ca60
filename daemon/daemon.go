// Package daemon wires kioskd's parts together: config in, then media, the
// session supervisor, and everything that shows or reports its state
// (logs, LEDs, systemd, the status socket, metrics) subscribed to its
// events. cmd/kioskd only parses flags and calls it.
package daemon

import (
	"github.com/kioskd/kioskd/dpwire"

	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/hw"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/internal/version"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/session"
)

// ShutdownGrace bounds how long a shutdown may take: docs/BEHAVIOUR.md
// section 10 wants exit within 5 s of SIGTERM, whatever a device or the
// server does.
const ShutdownGrace = 4 * time.Second

// Options are what the caller (the CLI, a test) provides besides the config.
type Options struct {
	Log *slog.Logger
	// OnSessionID hears the session id whenever it changes ("" when none),
	// so the log handler can put it on every line.
	OnSessionID func(id string)
	Clock       clock.Clock
	// Observers get every session event (LEDs, systemd, status, demo UI).
	Observers []func(<-chan contract.Event)
	// Media overrides the media source built from the config (tests, demo).
	Media session.MediaSource
	// Sink overrides the media sink (tests).
	Sink session.MediaSink
	// Ready is called once config is loaded and devices probed (READY=1).
	Ready func(*session.Supervisor)
	// Cameras is where the media source built from the config finds
	// cameras; nil: the real /dev (tests: hwtest.New).
	Cameras hw.System
	// DeviceDirs are the directories the device watcher polls (nil:
	// DeviceDirs), every DeviceWatchInterval (0: 5 s).
	DeviceDirs          []string
	DeviceWatchInterval time.Duration
}

// Daemon is a configured kioskd.
type Daemon struct {
	cfg  *config.Config
	opts Options
	sup  *session.Supervisor
	src  session.MediaSource
	sink *media.Sink // nil when the caller provided its own

	deviceChanges chan struct{}
}

// New builds the daemon from cfg. The token is read here, once, and only
// handed to the dialer.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	if cfg.Server.URL == "" {
		return nil, fmt.Errorf("%w: server.url is not set", config.ErrInvalid)
	}
	token, err := cfg.Token()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	// The signalling dialect: kioskd.dp.v1, the only one so far.
	dia, err := dpv1.New(dpv1.Config{
		URL:       cfg.Server.URL,
		Token:     token,
		TLS:       tlsCfg,
		UserAgent: "kioskd/" + version.Version,
		Heartbeat: cfg.Server.Heartbeat,
		Client: dpwire.ClientInfo{
			Name: "kioskd", Version: version.Version,
			Video: cfg.Media.Camera != "none", Audio: cfg.Media.Microphone != "none",
		},
		Clock: opts.Clock,
	})
	if err != nil {
		return nil, err
	}
	// Echo cancellation (docs/BEHAVIOUR.md section 7): what the speaker
	// plays is the reference the microphone's canceller removes, whenever
	// kioskd drives both.
	var echoRef *aec.Reference
	if cfg.Media.EchoCancellation && cfg.Media.Speaker != "none" && opts.Media == nil && opts.Sink == nil {
		echoRef = aec.NewReference(audio.SampleRate)
	}
	src := opts.Media
	if src == nil {
		src = media.NewSource(cfg.Media, opts.Log, media.WithEchoReference(echoRef),
			media.WithCamera(media.V4L2Camera{System: opts.Cameras, Log: opts.Log}))
	}
	var sink *media.Sink
	if opts.Sink == nil {
		// The Digital Person's voice to the speaker, its video to accounting.
		sink = media.NewSink(media.SinkConfig{Speaker: cfg.Media.Speaker, EchoReference: echoRef}, opts.Log)
		opts.Sink = sink
	}
	var store *session.Store
	if cfg.Session.Resume {
		store = session.NewStore(cfg.Session.StateDir)
	}
	deviceChanges := make(chan struct{}, 1)
	sup, err := session.New(session.Config{
		Resume:         cfg.Session.Resume,
		StepTimeout:    cfg.Session.StepTimeout,
		ConnectTimeout: cfg.Session.ConnectTimeout,
		InitialDelay:   cfg.Session.Reconnect.InitialDelay,
		MaxDelay:       cfg.Session.Reconnect.MaxDelay,
		ResetAfter:     cfg.Session.Reconnect.ResetAfter,
	}, dia, session.Options{
		Media: src, Sink: opts.Sink, Store: store, Clock: opts.Clock, Log: opts.Log,
		DeviceChanges: deviceChanges,
	})
	if err != nil {
		src.Close()
		if sink != nil {
			sink.Close()
		}
		return nil, err
	}
	return &Daemon{cfg: cfg, opts: opts, sup: sup, src: src, sink: sink, deviceChanges: deviceChanges}, nil
}

// Sink is the media sink built from the config (nil if Options.Sink was given).
func (d *Daemon) Sink() *media.Sink { return d.sink }

// Supervisor is the session supervisor (Snapshot, Subscribe).
func (d *Daemon) Supervisor() *session.Supervisor { return d.sup }

// Run runs until ctx is cancelled (SIGTERM), then closes the session with
// reason normal and releases the devices, within ShutdownGrace.
func (d *Daemon) Run(ctx context.Context) error {
	done := make(chan struct{})
	var observers []chan struct{}
	start := func(f func(<-chan contract.Event)) {
		ch, _ := d.sup.Subscribe()
		fin := make(chan struct{})
		observers = append(observers, fin)
		go func() { defer close(fin); f(ch) }()
	}
	if d.opts.OnSessionID != nil {
		start(func(events <-chan contract.Event) {
			last := ""
			for e := range events {
				if e.SessionID != last {
					last = e.SessionID
					d.opts.OnSessionID(last)
				}
			}
		})
	}
	for _, o := range d.opts.Observers {
		start(o)
	}
	if d.opts.Ready != nil {
		d.opts.Ready(d.sup)
	}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	// A device change wakes a supervisor parked after notSupported, and
	// makes an optional device that was missing and has appeared join the
	// session at once (session.Supervisor.hotplug).
	dirs, every := d.opts.DeviceDirs, d.opts.DeviceWatchInterval
	if dirs == nil {
		dirs = DeviceDirs
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	go watchDevices(watchCtx, d.opts.Clock, every, dirs, d.deviceChanges)

	runErr := make(chan error, 1)
	go func() { runErr <- d.sup.Run(ctx); close(done) }()
	var err error
	select {
	case err = <-runErr:
	case <-ctx.Done():
		t := time.NewTimer(ShutdownGrace)
		select {
		case err = <-runErr:
		case <-t.C:
			err = errors.New("shutdown took longer than " + ShutdownGrace.String())
		}
		t.Stop()
	}
	// Observers drain the bus the supervisor closed on its way out.
	for _, fin := range observers {
		select {
		case <-fin:
		case <-time.After(time.Second):
		}
	}
	closed := make(chan struct{})
	go func() {
		d.src.Close()
		if d.sink != nil {
			d.sink.Close()
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(time.Second):
		d.opts.Log.Warn("media devices did not close in time")
	}
	return err
}
