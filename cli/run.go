package cli

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/daemon"
	"github.com/kioskd/kioskd/leds"
	"github.com/kioskd/kioskd/logging"
	"github.com/kioskd/kioskd/media"
	"github.com/kioskd/kioskd/session"
	"github.com/kioskd/kioskd/status"
	"github.com/kioskd/kioskd/systemd"
)

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", stderr)
	path := fs.String("config", config.DefaultPath, "config file")
	format := fs.String("log-format", logging.FormatAuto, "auto|journal|json|text (auto: journald under systemd, else text)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	// Until the config is read, errors go to stderr as plain text.
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	token, err := cfg.Token()
	if err != nil {
		fmt.Fprintln(stderr, "kioskd:", err)
		return exitConfig
	}
	log, tracker, err := logging.New(*format, stderr, logging.Options{Secrets: []string{token}})
	if err != nil {
		fmt.Fprintln(stderr, "kioskd:", err)
		return exitUsage
	}
	return runDaemon(cfg, log, tracker, stderr)
}

// runDaemon runs kioskd with everything that reports its state. It is
// shared by `run` and tests.
func runDaemon(cfg *config.Config, log *slog.Logger, tracker *logging.SessionTracker, console io.Writer) int {
	ctx, stop := signalContext()
	defer stop()

	ledCfg := cfg.LEDs
	backend, err := leds.Open(ledCfg, console)
	if err != nil {
		// LEDs help staff, but a kiosk without them still serves visitors.
		log.Error("status LEDs unavailable; running without them", "error", err)
		backend = leds.None{}
	}
	ledCtl, err := leds.New(ledCfg, backend, nil, log)
	if err != nil {
		log.Error("status LEDs unavailable; running without them", "error", err)
		ledCtl, _ = leds.New(config.Default().LEDs, leds.None{}, nil, log)
	}
	// All LEDs off on every way out, including a panic in the daemon.
	defer ledCtl.Close()

	d, err := daemon.New(cfg, daemon.Options{
		Log:         log,
		OnSessionID: tracker.Set, // "" clears it
		Observers: []func(<-chan contract.Event){
			ledObserver(ledCtl),
		},
		// READY=1 once config is loaded and devices probed, not waiting
		// for Connected (docs/BEHAVIOUR.md section 10).
		Ready: func(*session.Supervisor) { systemd.Ready() },
	})
	if err != nil {
		log.Error("cannot start", "error", err)
		return exitConfig
	}
	sup := d.Supervisor()
	statusEvents, _ := sup.Subscribe()
	go systemd.ReportStatus(context.Background(), statusEvents, sup.Snapshot)

	// The local status socket for `kioskd status`. Without it the kiosk
	// still serves visitors: log and go on.
	socketEvents, cancelSocket := sup.Subscribe()
	if srv, err := status.NewServer(cfg.Status, status.ServerOptions{Snapshot: sup.Snapshot, Events: socketEvents, Logger: log}); err != nil {
		cancelSocket()
		log.Error("status socket unavailable", "path", cfg.Status.Socket, "error", err)
	} else {
		defer srv.Close()
	}
	if cfg.Status.MetricsListen != "" {
		reg := status.NewRegistry()
		if m, err := status.NewMetrics(reg); err != nil {
			log.Error("metrics unavailable", "error", err)
		} else {
			metricEvents, _ := sup.Subscribe()
			go m.Follow(context.Background(), metricEvents)
			fctx, fstop := context.WithCancel(context.Background())
			defer fstop()
			go feedMediaMetrics(fctx, 5*time.Second, d.Sink(), sup.SendStats, m.Media)
			mctx, mstop := context.WithCancel(context.Background())
			defer mstop()
			go func() {
				if err := status.ServeMetrics(mctx, cfg.Status.MetricsListen, reg); err != nil {
					log.Error("metrics endpoint stopped", "listen", cfg.Status.MetricsListen, "error", err)
				}
			}()
		}
	}
	// WATCHDOG=1 only while the supervisor makes progress (docs/BEHAVIOUR.md section 5).
	if iv, ok := systemd.WatchdogInterval(); ok {
		wd, err := systemd.NewWatchdog(systemd.WatchdogConfig{Interval: iv, LastProgress: d.Supervisor().LastProgress, Logger: log})
		if err != nil {
			log.Error("systemd watchdog disabled", "error", err)
		} else {
			wdCtx, wdStop := context.WithCancel(context.Background())
			defer wdStop()
			go func() { _ = wd.Run(wdCtx) }()
		}
	}
	go func() {
		<-ctx.Done()
		systemd.Stopping()
	}()
	log.Info("kioskd started", "config_server", cfg.Server.URL, "camera", cfg.Media.Camera, "microphone", cfg.Media.Microphone, "speaker", cfg.Media.Speaker, "leds", cfg.LEDs.Backend)
	if err := d.Run(ctx); err != nil {
		log.Error("stopped with an error", "error", err)
		return exitFail
	}
	log.Info("kioskd stopped")
	return exitOK
}

// feedMediaMetrics copies what the calls sent to the Digital Person and
// what the sink (if any) received from it into the metrics every interval;
// the send bitrate is the payload bytes sent over the last interval.
func feedMediaMetrics(ctx context.Context, every time.Duration, sink *media.Sink, sent func() session.SendStats, m *status.MediaMetrics) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last media.SinkStats
	lastSent, lastTime := sent(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			secs := now.Sub(lastTime).Seconds()
			if sink != nil {
				st := sink.Stats()
				m.AddFramesReceived("video", int(st.VideoFrames-last.VideoFrames))
				m.AddFramesReceived("audio", int(st.AudioPackets-last.AudioPackets))
				if secs > 0 {
					m.SetBitrate("receive", "video", float64(st.VideoBytes-last.VideoBytes)*8/secs)
					m.SetBitrate("receive", "audio", float64(st.AudioBytes-last.AudioBytes)*8/secs)
				}
				last = st
			}
			s := sent()
			m.AddFramesSent("video", int(s.VideoFrames-lastSent.VideoFrames))
			m.AddFramesSent("audio", int(s.AudioPackets-lastSent.AudioPackets))
			if secs > 0 {
				m.SetBitrate("send", "video", float64(s.VideoBytes-lastSent.VideoBytes)*8/secs)
				m.SetBitrate("send", "audio", float64(s.AudioBytes-lastSent.AudioBytes)*8/secs)
			}
			lastSent, lastTime = s, now
		}
	}
}

// ledObserver drives the LEDs from the session's events until the bus closes.
func ledObserver(ctl *leds.Controller) func(<-chan contract.Event) {
	return func(ev <-chan contract.Event) { _ = ctl.Run(context.Background(), ev) }
}
