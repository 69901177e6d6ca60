package status

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Errors of the metrics endpoint.
var (
	// ErrNotLoopback: a metrics address that is not loopback, without a
	// web config file.
	ErrNotLoopback = errors.New("status: metrics listen on a loopback address (127.0.0.1, [::1] or localhost) unless status.metrics_web_config gives TLS and basic auth")
	// ErrWebConfig: the web config file cannot be used.
	ErrWebConfig = errors.New("status: metrics web config")
	// ErrInsecureWebConfig: a web config without TLS or without basic
	// auth, for an address that is not loopback.
	ErrInsecureWebConfig = errors.New("status: a metrics address that is not loopback needs both TLS (tls_server_config) and basic auth (basic_auth_users) in status.metrics_web_config")
)

// CheckWebConfig checks the web config file at path as the metrics
// endpoint will read it (webconfig.go: the keys kioskd implements, the
// certificate and key load as a pair, bcrypt hashes) and, if secure, that
// it turns on both TLS and basic auth: what an address reachable from the
// network needs. Its errors name the file and the key, never a password
// hash or a key.
func CheckWebConfig(path string, secure bool) error {
	c, err := loadWebConfig(path)
	if err != nil {
		return err
	}
	if !secure {
		return nil
	}
	switch {
	case !c.tlsOn() && !c.authOn():
		return fmt.Errorf("%w (%s has neither)", ErrInsecureWebConfig, path)
	case !c.tlsOn():
		return fmt.Errorf("%w (%s has no TLS)", ErrInsecureWebConfig, path)
	case !c.authOn():
		return fmt.Errorf("%w (%s has no basic_auth_users)", ErrInsecureWebConfig, path)
	}
	return nil
}

// IsLoopback reports whether addr (host:port) names a loopback host:
// 127.0.0.0/8, ::1 or localhost. An empty host (all interfaces) is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ListenMetrics listens on addr for /metrics. Without a web config file
// (webConfig "") addr must be a loopback address ("127.0.0.1:9120",
// "[::1]:9120", "localhost:9120"), else it fails with ErrNotLoopback: the
// metrics tell who is at which kiosk when. Any other address needs a web
// config that turns on TLS and basic auth (CheckWebConfig); on loopback a
// web config is used as it is.
func ListenMetrics(addr, webConfig string) (net.Listener, error) {
	loopback := IsLoopback(addr)
	if webConfig == "" && !loopback {
		return nil, fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	if webConfig != "" {
		if err := CheckWebConfig(webConfig, !loopback); err != nil {
			return nil, err
		}
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		host = "127.0.0.1" // not whatever the resolver says today
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("status: metrics: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); webConfig == "" && (!ok || !ta.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("%w: bound %v", ErrNotLoopback, ln.Addr())
	}
	return ln, nil
}

// ServeMetrics serves /metrics on addr (see ListenMetrics) until ctx is
// done, then returns nil. With no gatherers it serves
// prometheus.DefaultGatherer. log hears what exporter-toolkit says (nil:
// nothing).
func ServeMetrics(ctx context.Context, addr, webConfig string, log *slog.Logger, gatherers ...prometheus.Gatherer) error {
	ln, err := ListenMetrics(addr, webConfig)
	if err != nil {
		return err
	}
	return ServeMetricsOn(ctx, ln, webConfig, log, gatherers...)
}

// ServeMetricsOn serves /metrics on ln until ctx is done, then returns nil.
// It closes ln. With a web config file: TLS and basic auth as the file
// says, the file read again at each connection and request, so a new
// password or certificate needs no restart (webconfig.go).
func ServeMetricsOn(ctx context.Context, ln net.Listener, webConfig string, log *slog.Logger, gatherers ...prometheus.Gatherer) error {
	var g prometheus.Gatherer = prometheus.DefaultGatherer
	switch len(gatherers) {
	case 0:
	case 1:
		g = gatherers[0]
	default:
		g = prometheus.Gatherers(gatherers)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	// A TLS handshake that fails (a scanner, a wrong CA) is logged at
	// debug level only: the network may be noisy.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	serve := func() error { return srv.Serve(ln) }
	if webConfig != "" {
		c, err := loadWebConfig(webConfig)
		if err != nil {
			ln.Close()
			return err
		}
		w := &webServer{path: webConfig, log: log, next: mux}
		srv.Handler = w
		if c.tlsOn() {
			srv.TLSConfig = &tls.Config{GetConfigForClient: w.getConfigForClient}
			if !c.http2 {
				srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
			}
			serve = func() error { return srv.ServeTLS(ln, "", "") }
		}
		log.Info("metrics served with the web config", "listen", ln.Addr().String(), "tls", c.tlsOn(), "basic_auth", c.authOn())
	}
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		ln.Close()
		return fmt.Errorf("status: metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}
