// Command dpsim is the reference Digital Person server (package dpsim):
//
//	dpsim --listen ADDR [--admin ADDR] [scenario flags]
//
// or, with --livekit-url, a Digital Person participant of a LiveKit server
// (package dpsim/lkdp, livekit.go):
//
//	dpsim --livekit-url URL --livekit-key KEY --livekit-secret-file FILE [--admin ADDR] [--token-endpoint ADDR]
//
// The token is read from --token-file or the DPSIM_TOKEN environment
// variable (none: any client is accepted). The admin API listens on a
// loopback address only. SIGINT or SIGTERM closes every session and exits 0.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/kioskd/kioskd/dpsim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is dpsim. Like kioskd's commands, --help prints the usage on stdout
// (exit 0) and a bad flag one line and a hint on stderr (exit 2).
func run(args []string, stdout io.Writer, stderr *os.File) int {
	fs := flag.NewFlagSet("dpsim", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := dpsim.Config{Scenario: dpsim.DefaultScenario()}
	listen := fs.String("listen", "127.0.0.1:8765", "address of the control endpoint (ws://ADDR"+dpsim.ControlPath+")")
	admin := fs.String("admin", "127.0.0.1:8766", "loopback address of the admin API (empty: none)")
	tlsCert := fs.String("tls-cert", "", "certificate file: serve wss:// instead of ws://")
	tlsKey := fs.String("tls-key", "", "key file for --tls-cert")
	tokenFile := fs.String("token-file", "", "file holding the bearer token (default: $DPSIM_TOKEN; none: no authentication)")
	turnSecretFile := fs.String("turn-secret-file", "", "file holding coturn's static-auth-secret, to mint TURN credentials for --turn-url")
	logFormat := fs.String("log-format", "text", "text or json")
	verbose := fs.Bool("v", false, "debug logging")
	cfg.RegisterFlags(fs)
	var lk liveKitFlags
	lk.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "usage: dpsim --listen ADDR [--admin ADDR] [--token-file FILE] [scenario flags]\n"+
				"       dpsim --livekit-url URL --livekit-key KEY --livekit-secret-file FILE [--admin ADDR] [--token-endpoint ADDR] [--livekit-* flags]\n\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "dpsim: %v\nrun 'dpsim --help' for usage\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dpsim: unexpected arguments %q\nrun 'dpsim --help' for usage\n", fs.Args())
		return 2
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch *logFormat {
	case "json":
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	case "text":
		log = slog.New(slog.NewTextHandler(stderr, opts))
	default:
		fmt.Fprintf(stderr, "dpsim: --log-format %q: want text or json\n", *logFormat)
		return 2
	}

	cfg.Token = os.Getenv("DPSIM_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			log.Error("token file", "err", err)
			return 1
		}
		cfg.Token = strings.TrimSpace(string(b))
	}
	if *turnSecretFile != "" {
		b, err := os.ReadFile(*turnSecretFile)
		if err != nil {
			log.Error("TURN secret file", "err", err)
			return 1
		}
		cfg.TURNSecret = strings.TrimSpace(string(b))
	}
	if *admin != "" {
		if err := dpsim.CheckLoopbackAddr(*admin); err != nil {
			log.Error("refusing the admin address", "err", err)
			return 2
		}
	}
	if lk.url != "" {
		return lk.run(cfg, *admin, log, stderr)
	}

	// SIGINT and SIGTERM are caught from here on, before "dpsim ready": a
	// script that stops dpsim as soon as it is ready gets exit 0, not a
	// death by signal.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv, err := dpsim.New(cfg, log)
	if err != nil {
		log.Error("configuration", "err", err)
		return 2
	}
	defer srv.Close()
	if (*tlsCert == "") != (*tlsKey == "") {
		log.Error("--tls-cert and --tls-key go together")
		return 2
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	scheme := "ws://"
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			l.Close()
			log.Error("TLS", "err", err)
			return 1
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "wss://"
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	attrs := []any{"url", scheme + l.Addr().String() + dpsim.ControlPath, "auth", cfg.Token != ""}
	if *admin != "" {
		adm, err := srv.ListenAdmin(*admin)
		if err != nil {
			log.Error("admin listen", "err", err)
			return 1
		}
		attrs = append(attrs, "admin", "http://"+adm.String())
	}
	c := srv.Config()
	log.Info("dpsim ready", append(attrs, "voice_hz", c.VoiceHz,
		"video", fmt.Sprintf("%dx%d@%d", c.VideoWidth, c.VideoHeight, c.VideoFPS),
		"resume_window", c.Scenario.ResumeWindow.String())...)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		log.Error("control endpoint stopped", "err", err)
		_ = srv.Close()
		return 1
	}
	_ = srv.Close()
	<-served
	return 0
}
