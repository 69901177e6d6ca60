package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/lkdp"
)

// liveKitFlags are dpsim's LiveKit mode (--livekit-url set).
type liveKitFlags struct {
	url, key, secretFile string
	tokenEndpoint        string // listen address of the token endpoint ("": none)
	credentialFile       string
	dp                   lkdp.Config
	ep                   lkdp.TokenEndpoint
}

func (f *liveKitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "livekit-url", "", "LiveKit mode: the LiveKit server, ws://HOST:PORT or wss://...; the DP joins its kiosks' rooms instead of serving kioskd.dp.v1")
	fs.StringVar(&f.key, "livekit-key", "devkey", "LiveKit mode: the API key")
	fs.StringVar(&f.secretFile, "livekit-secret-file", "", "LiveKit mode: file holding the API secret (default: $DPSIM_LIVEKIT_SECRET)")
	fs.StringVar(&f.tokenEndpoint, "token-endpoint", "", "LiveKit mode: also serve LiveKit's standard token endpoint on this address (any path, POST)")
	fs.StringVar(&f.credentialFile, "token-endpoint-credential-file", "", "LiveKit mode: file holding the bearer credential the token endpoint requires (default: $DPSIM_TOKEN; none: any)")
	f.dp.RegisterFlags(fs)
	f.ep.RegisterFlags(fs)
}

// run is dpsim's LiveKit mode until SIGINT or SIGTERM (exit 0).
func (f *liveKitFlags) run(media dpsim.Config, admin string, log *slog.Logger, stderr *os.File) int {
	secret := os.Getenv("DPSIM_LIVEKIT_SECRET")
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			log.Error("LiveKit secret file", "err", err)
			return 1
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" {
		fmt.Fprintln(stderr, "dpsim: --livekit-url needs the API secret: --livekit-secret-file FILE or $DPSIM_LIVEKIT_SECRET")
		return 2
	}
	if f.ep.RefuseStatus != 401 && f.ep.RefuseStatus != 403 {
		fmt.Fprintf(stderr, "dpsim: --token-endpoint-refuse-status %d: want 401 or 403\n", f.ep.RefuseStatus)
		return 2
	}
	f.ep.Credential = os.Getenv("DPSIM_TOKEN")
	if f.credentialFile != "" {
		b, err := os.ReadFile(f.credentialFile)
		if err != nil {
			log.Error("token endpoint credential file", "err", err)
			return 1
		}
		f.ep.Credential = strings.TrimSpace(string(b))
	}
	cfg := f.dp
	cfg.FromDpsim(media)
	cfg.URL, cfg.APIKey, cfg.APISecret = f.url, f.key, secret
	dp, err := lkdp.New(cfg, log)
	if err != nil {
		log.Error("configuration", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	attrs := []any{"livekit_url", f.url, "identity", dp.Config().Identity}
	serve := func(addr string, h http.Handler, what string) (string, bool) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Error(what+" listen", "err", err)
			return "", false
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error(what+" stopped", "err", err)
			}
		}()
		go func() { <-ctx.Done(); _ = srv.Close() }()
		return "http://" + l.Addr().String(), true
	}
	if admin != "" {
		u, ok := serve(admin, dp.AdminHandler(), "admin")
		if !ok {
			return 1
		}
		attrs = append(attrs, "admin", u)
	}
	if f.tokenEndpoint != "" {
		u, ok := serve(f.tokenEndpoint, dp.TokenHandler(f.ep), "token endpoint")
		if !ok {
			return 1
		}
		attrs = append(attrs, "token_endpoint", u, "auth", f.ep.Credential != "")
	}
	sc := cfg.Scenario
	log.Info("dpsim ready (LiveKit mode)", append(attrs, "voice_hz", dp.Config().VoiceHz,
		"never_join", sc.NeverJoin, "join_delay", sc.JoinDelay.String(), "leave_after", sc.LeaveAfter.String(),
		"remove_kiosk_after", sc.RemoveKioskAfter.String(), "delete_room_after", sc.DeleteRoomAfter.String())...)
	_ = dp.Run(ctx)
	log.Info("shutting down")
	return 0
}
