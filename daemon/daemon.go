// Package daemon is kioskd's composition root, the one place that wires
// its parts together. New takes the config and builds the signalling
// dialect server.dialect names (dialect/dpv1 or dialect/livekit), the media source and sink (media, with echo
// cancellation from audio/aec when kioskd drives both microphone and
// speaker), the session supervisor (session) and the status LEDs (leds:
// the backend leds.backend names, or none if it cannot be opened). Run
// then subscribes everything that shows or reports the session's state to
// its events and runs the supervisor until its context ends:
//
//   - the LED controller;
//   - systemd (systemd): READY=1 once started, STATUS= on every change,
//     STOPPING=1 on shutdown, and the watchdog when WATCHDOG_USEC asks for it;
//   - the status socket for `kioskd status` (status.socket);
//   - Prometheus metrics on status.metrics_listen, if set (TLS and basic
//     auth as status.metrics_web_config says), with the media counters fed
//     every 5 s and the devices' and LEDs' health read at each scrape;
//   - the device watcher (hotplug) and the caller's observers (Options).
//
// LEDs, the status socket and metrics help staff; when one of them fails
// the kiosk still serves visitors, so the failure is logged and Run goes
// on. Every goroutine Run starts runs on a context derived from Run's, with
// its own subscription, and is stopped and waited for before Run returns;
// only a supervisor or a device that overruns the shutdown deadline is left
// behind, so that kioskd exits in time. The LEDs are off on every way out
// of New and Run, a panic in Run included.
//
// The command line (package cli) only parses flags, loads the config,
// builds the logger and calls New and Run.
package daemon

import (
	"github.com/kioskd/kioskd/dpwire"

	"github.com/kioskd/kioskd/contract"

	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kioskd/kioskd/audio"
	"github.com/kioskd/kioskd/audio/aec"
	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/dialect"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/hw"
	"github.com/kioskd/kioskd/internal/clock"
	"github.com/kioskd/kioskd/internal/identity"
	"github.com/kioskd/kioskd/internal/version"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/rtc"
	"github.com/kioskd/kioskd/session"
)

// The shutdown budget: docs/BEHAVIOUR.md section 10 wants exit within 5 s
// of SIGTERM, whatever a device or the server does, and so the stages of a
// shutdown add up to less (TestShutdownBudget): the supervisor closes the
// session (ShutdownGrace; the dialect's own close takes at most 2 s of
// it), the observers show its last events (drainGrace), the daemon's
// goroutines stop (stopGrace), the devices close (mediaCloseGrace). A
// stage that overruns is left behind: exiting in time matters more.
const (
	ShutdownGrace   = 3 * time.Second
	drainGrace      = 500 * time.Millisecond
	stopGrace       = 500 * time.Millisecond
	mediaCloseGrace = 500 * time.Millisecond
)

// Options are what the caller (the CLI, the demo, a test) provides besides
// the config. The zero value is what `kioskd run` needs but a logger.
type Options struct {
	Log *slog.Logger
	// OnSessionID hears the session id whenever it changes ("" when none),
	// so the log handler can put it on every line. The supervisor calls it
	// synchronously (session.Options.OnSessionID), so a line never carries
	// the id of an earlier attempt.
	OnSessionID func(id string)
	// Clock drives the supervisor, the dialect, the LEDs and the watchdog;
	// nil: the wall clock.
	Clock clock.Clock
	// Observers get every session event besides the daemon's own (the
	// demo's progress lines, a test's recorder). Each gets its own
	// subscription, ended when Run returns.
	Observers []func(<-chan contract.Event)
	// Console is where `leds.backend: console` prints (nil: os.Stdout).
	Console io.Writer
	// LEDs, if set, is driven instead of the backend cfg.LEDs names
	// (cfg.LEDs still gives the profile); the daemon closes it (tests).
	LEDs leds.Backend
	// Media overrides the media source built from the config (tests).
	Media session.MediaSource
	// Sink overrides the media sink (tests).
	Sink session.MediaSink
	// Cameras is where the media source built from the config finds
	// cameras; nil: the real /dev (tests: hwtest.New).
	Cameras hw.System
	// DeviceDirs are the directories the device watcher polls (nil:
	// DeviceDirs), every DeviceWatchInterval (0: 5 s).
	DeviceDirs          []string
	DeviceWatchInterval time.Duration
	// TokenSource says where the token was read (config.TokenInfo.Source),
	// for the start line; never the token.
	TokenSource string
	// MachineIDFile is where the kiosk id comes from ("":
	// identity.MachineIDFile).
	MachineIDFile string
}

// Daemon is a configured kioskd. New builds it, Run runs it once, Close
// releases what New acquired (Run does that on its way out).
type Daemon struct {
	cfg  *config.Config
	opts Options
	sup  *session.Supervisor
	src  session.MediaSource
	sink *media.Sink // nil when the caller provided its own

	ledsMu sync.Mutex // guards leds, ledsOpen and group: ApplyLEDs swaps the controller
	leds   *leds.Controller
	group  *group // Run's, once it has wired the reporters
	// ledsOpen: the backend of leds.backend opened (else kioskd runs
	// without LEDs); with the controller's Healthy, kioskd_leds_up.
	ledsOpen bool
	dia      dialect.Dialect // for network changes (netchange.go)

	deviceChanges chan struct{}
	closeOnce     sync.Once

	id         identity.Identity
	idErr      error         // why id has no kiosk id, for the start line
	reload     chan struct{} // closed by Reload
	reloadOnce sync.Once
	unlock     func() error // gives the state directory back (Close)
}

// Reload ends Run as the cancellation of its context does (the session
// closed, the devices released, the LEDs off), but as one generation of a
// configuration reload: systemd hears no STOPPING=1, since the process
// goes on with the next generation, whose Run sends READY=1.
func (d *Daemon) Reload() { d.reloadOnce.Do(func() { close(d.reload) }) }

// New builds the daemon from cfg. The state directory is taken first
// (session.LockStateDir: one kioskd per state directory; a second one
// fails here with session.ErrLocked, before it touches LEDs, socket or
// session). Then the LEDs are opened, so that they are off again whatever
// happens next (New failing included). The token is read here, once, and
// only handed to the dialer.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	if opts.MachineIDFile == "" {
		opts.MachineIDFile = identity.MachineIDFile
	}
	unlock, err := session.LockStateDir(cfg.Session.StateDir)
	if err != nil {
		return nil, err
	}
	ledCtl, ledsOpen := openLEDs(cfg.LEDs, opts)
	d, err := build(cfg, opts)
	if err != nil {
		_ = ledCtl.Close()
		_ = unlock()
		return nil, err
	}
	d.leds, d.ledsOpen = ledCtl, ledsOpen
	d.unlock = unlock
	return d, nil
}

// openLEDs returns the LED controller for cfg (the leds section), falling
// back to no LEDs: they help staff, but a kiosk without them still serves
// visitors. ok says whether the configured backend opened.
func openLEDs(cfg config.LEDs, opts Options) (ctl *leds.Controller, ok bool) {
	backend, ok := opts.LEDs, true
	if backend == nil {
		var err error
		if backend, err = leds.Open(cfg, opts.Console); err != nil {
			opts.Log.Error("status LEDs unavailable; running without them", "error", err)
			backend, ok = leds.None{}, false
		}
	}
	ctl, err := leds.New(cfg, backend, opts.Clock, opts.Log)
	if err != nil {
		opts.Log.Error("status LEDs unavailable; running without them", "error", err)
		_ = backend.Close()
		ctl, _ = leds.New(config.Default().LEDs, leds.None{}, opts.Clock, opts.Log)
		ok = false
	}
	return ctl, ok
}

// build makes the session supervisor with its dialect and media.
func build(cfg *config.Config, opts Options) (*Daemon, error) {
	if cfg.Server.URL == "" && (cfg.Server.TokenEndpoint == "" || cfg.Server.Dialect != config.DialectLiveKit) {
		// A LiveKit token endpoint names the server in its answers.
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
	id, idErr := identity.Read(opts.MachineIDFile)
	dia, err := buildDialect(cfg, token, tlsCfg, id, opts)
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
		DeviceChanges: deviceChanges, OnSessionID: opts.OnSessionID,
	})
	if err != nil {
		src.Close()
		if sink != nil {
			sink.Close()
		}
		return nil, err
	}
	return &Daemon{cfg: cfg, opts: opts, sup: sup, src: src, sink: sink, dia: dia, deviceChanges: deviceChanges, reload: make(chan struct{}),
		id: id, idErr: idErr}, nil
}

// buildDialect builds the signalling dialect server.dialect names
// (docs/BEHAVIOUR.md section 6): the supervisor, LEDs, logs and status
// are the same whichever it is.
func buildDialect(cfg *config.Config, token string, tlsCfg *tls.Config, id identity.Identity, opts Options) (dialect.Dialect, error) {
	switch cfg.Server.Dialect {
	case config.DialectLiveKit:
		return newLiveKit(cfg, token, tlsCfg, opts)
	default:
		peer, err := peerOptions(cfg)
		if err != nil {
			return nil, err
		}
		return dpv1.New(dpv1.Config{
			Peer:      peer,
			URL:       cfg.Server.URL,
			Token:     token,
			TLS:       tlsCfg,
			UserAgent: "kioskd/" + version.Version,
			Heartbeat: cfg.Server.Heartbeat,
			Client: dpwire.ClientInfo{
				Name: "kioskd", Version: version.Version,
				Video: cfg.Media.Camera != "none", Audio: cfg.Media.Microphone != "none",
				KioskID: id.KioskID,
			},
			Clock:     opts.Clock,
			BuildTime: version.BuildTime(),
		})
	}
}

// peerOptions are the WebRTC settings of server.ice_servers (credential
// files read now: a SIGHUP reload reads them again) and
// server.ice_transport_policy.
func peerOptions(cfg *config.Config) (rtc.PeerOptions, error) {
	servers, err := cfg.ResolvedICEServers()
	if err != nil {
		return rtc.PeerOptions{}, err
	}
	o := rtc.PeerOptions{RelayOnly: cfg.Server.ICETransportPolicy == config.ICEPolicyRelay}
	for _, s := range servers {
		ws := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			ws.Credential, ws.CredentialType = s.Credential, webrtc.ICECredentialTypePassword
		}
		o.ICEServers = append(o.ICEServers, ws)
	}
	return o, nil
}

// Sink is the media sink built from the config (nil if Options.Sink was given).
func (d *Daemon) Sink() *media.Sink { return d.sink }

// Supervisor is the session supervisor (Snapshot, Subscribe).
func (d *Daemon) Supervisor() *session.Supervisor { return d.sup }

// Close releases the media devices (waiting at most a second for them) and
// turns every LED off. Run calls it on its way out; call it yourself only
// if Run is never called. It is safe to call more than once.
func (d *Daemon) Close() error {
	var err error
	d.closeOnce.Do(func() {
		// The LEDs go off last but in any case, even if closing the media
		// panics; then the state directory is free for a next generation.
		defer func() {
			d.ledsMu.Lock()
			err = d.leds.Close()
			d.ledsMu.Unlock()
			if d.unlock != nil {
				_ = d.unlock()
			}
		}()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			d.src.Close()
			if d.sink != nil {
				d.sink.Close()
			}
		}()
		select {
		case <-closed:
		case <-time.After(mediaCloseGrace):
			d.opts.Log.Warn("media devices did not close in time")
		}
	})
	return err
}
