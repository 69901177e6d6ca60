package status

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrNotLoopback: the metrics address is not a loopback address.
var ErrNotLoopback = errors.New("status: metrics must listen on a loopback address (127.0.0.1, [::1] or localhost)")

// Metrics are kioskd's Prometheus metrics, fed by session events:
//
//	kioskd_connection_state                    gauge, the current step (0–4)
//	kioskd_queue_position                      gauge, while searching
//	kioskd_connects_total                      counter, Connected reached
//	kioskd_resumes_total                       counter, Connected by resuming the stored session
//	kioskd_connect_errors_total{error_name}    counter, failed connects (docs/BEHAVIOUR.md section 2)
//	kioskd_disconnects_total{reason}           counter, ends of Connected sessions (docs/BEHAVIOUR.md section 3)
//	kioskd_media_failures_total                counter, capture tracks that failed
//	kioskd_time_to_connected_seconds           histogram, leaving Disconnected → Connected
//	kioskd_recovery_seconds                    histogram, controlDisconnected → Connected again
//
// and Media, which the media code sets.
type Metrics struct {
	state         prometheus.Gauge
	queue         prometheus.Gauge
	connects      prometheus.Counter
	resumes       prometheus.Counter
	connectErrors *prometheus.CounterVec
	disconnects   *prometheus.CounterVec
	mediaFailures prometheus.Counter
	timeToConn    prometheus.Histogram
	recovery      prometheus.Histogram

	// Media is for the media code; its methods are safe on a nil *MediaMetrics.
	Media *MediaMetrics

	mu            sync.Mutex
	prev          contract.ConnectionState
	attemptStart  time.Time
	recoveryStart time.Time
}

// MediaMetrics are set by the media code. kind is "video" or "audio".
//
//	kioskd_media_frames_sent_total{kind}       VP8 frames / Opus packets a call's PeerConnection sent
//	kioskd_media_frames_received_total{kind}   VP8 frames / Opus packets received from the DP
//	kioskd_media_bitrate_bits_per_second{direction="send"|"receive",kind}
//
// kioskd (package daemon) feeds them every 5 s: the sent side from
// session.Supervisor.SendStats (counted where the session's relays hand RTP
// to a bound call, so nothing while no call is bound), with the send
// bitrate as the RTP payload bytes sent over those 5 s; the received side
// from media.Sink.Stats, the receive bitrate likewise from the payload
// bytes the sink read.
type MediaMetrics struct {
	framesSent     *prometheus.CounterVec
	framesReceived *prometheus.CounterVec
	bitrate        *prometheus.GaugeVec
}

// AddFramesSent counts n frames (video) or packets (audio) sent.
func (m *MediaMetrics) AddFramesSent(kind string, n int) {
	if m != nil && n > 0 {
		m.framesSent.WithLabelValues(kind).Add(float64(n))
	}
}

// AddFramesReceived counts n frames (video) or packets (audio) from the DP.
func (m *MediaMetrics) AddFramesReceived(kind string, n int) {
	if m != nil && n > 0 {
		m.framesReceived.WithLabelValues(kind).Add(float64(n))
	}
}

// SetBitrate sets the current bitrate of direction ("send" or "receive") and kind.
func (m *MediaMetrics) SetBitrate(direction, kind string, bitsPerSecond float64) {
	if m != nil {
		m.bitrate.WithLabelValues(direction, kind).Set(bitsPerSecond)
	}
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		state: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_connection_state",
			Help: "Current connection step: 0 Disconnected, 1 SearchingForDigitalPerson, 2 DownloadingAssets, 3 ConnectingToDigitalPerson, 4 Connected."}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_queue_position",
			Help: "Queue position reported by the server while searching for a Digital Person (0 otherwise)."}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_connects_total",
			Help: "Times the session reached Connected."}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_resumes_total",
			Help: "Times Connected was reached by resuming the stored session."}),
		connectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_connect_errors_total",
			Help: "Failed connects by error name."}, []string{"error_name"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_disconnects_total",
			Help: "Ends of Connected sessions by reason."}, []string{"reason"}),
		mediaFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_media_failures_total",
			Help: "Capture tracks that failed (mediaStreamFailed)."}),
		timeToConn: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kioskd_time_to_connected_seconds",
			Help:    "Time from leaving Disconnected to Connected, per successful attempt.",
			Buckets: []float64{.05, .1, .15, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		recovery: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kioskd_recovery_seconds",
			Help:    "Time from a controlDisconnected disconnect to Connected again, retries included.",
			Buckets: []float64{.1, .3, .5, 1, 2, 5, 10, 30, 60, 120, 300}}),
		Media: &MediaMetrics{
			framesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_media_frames_sent_total",
				Help: "Frames (video) or packets (audio) sent to the Digital Person."}, []string{"kind"}),
			framesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_media_frames_received_total",
				Help: "Frames (video) or packets (audio) received from the Digital Person."}, []string{"kind"}),
			bitrate: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kioskd_media_bitrate_bits_per_second",
				Help: "Current media bitrate."}, []string{"direction", "kind"}),
		},
	}
	// Every error name and reason shows up at 0, so rate() works from the start.
	for _, n := range contract.AllErrorNames {
		m.connectErrors.WithLabelValues(n.String())
	}
	for _, r := range contract.AllDisconnectReasons {
		m.disconnects.WithLabelValues(r.String())
	}
	for _, c := range []prometheus.Collector{m.state, m.queue, m.connects, m.resumes, m.connectErrors,
		m.disconnects, m.mediaFailures, m.timeToConn, m.recovery,
		m.Media.framesSent, m.Media.framesReceived, m.Media.bitrate} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("status: register metrics: %w", err)
		}
	}
	return m, nil
}

// Observe updates the metrics for one event. Durations use the events' times.
func (m *Metrics) Observe(e contract.Event) {
	if e.Kind == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.Set(float64(e.State.Step()))
	if e.State != contract.SearchingForDigitalPerson {
		m.queue.Set(0)
	}
	switch e.Kind {
	case contract.EventState:
		if m.prev == contract.Disconnected && e.State != contract.Disconnected {
			m.attemptStart = e.Time
		}
		if e.State == contract.Connected && m.prev != contract.Connected {
			m.connects.Inc()
			if e.Resumed {
				m.resumes.Inc()
			}
			observeSince(m.timeToConn, m.attemptStart, e.Time)
			observeSince(m.recovery, m.recoveryStart, e.Time)
			m.attemptStart, m.recoveryStart = time.Time{}, time.Time{}
		}
		if e.State == contract.Disconnected {
			m.attemptStart = time.Time{}
		}
		m.prev = e.State
	case contract.EventQueue:
		m.queue.Set(float64(e.QueuePosition))
	case contract.EventConnectFailed:
		if e.ErrorName != contract.NoError {
			m.connectErrors.WithLabelValues(e.ErrorName.String()).Inc()
		}
	case contract.EventDisconnected:
		if e.Reason != contract.NoReason {
			m.disconnects.WithLabelValues(e.Reason.String()).Inc()
		}
		if e.Reason == contract.ReasonControlDisconnected && m.recoveryStart.IsZero() {
			m.recoveryStart = e.Time
		}
	case contract.EventMediaFailed:
		m.mediaFailures.Inc()
	case contract.EventStopped:
		m.attemptStart, m.recoveryStart = time.Time{}, time.Time{}
	}
}

func observeSince(h prometheus.Histogram, start, end time.Time) {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return
	}
	h.Observe(end.Sub(start).Seconds())
}

// Follow observes events until the channel is closed or ctx is done. Give
// it its own Bus subscription.
func (m *Metrics) Follow(ctx context.Context, events <-chan contract.Event) {
	contract.Follow(ctx, events, m.Observe)
}

// NewRegistry returns a registry with the Go runtime and process collectors,
// for NewMetrics and ServeMetrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ListenMetrics listens on addr, which must be a loopback address
// ("127.0.0.1:9120", "[::1]:9120", "localhost:9120"); anything else,
// including an empty host, fails with ErrNotLoopback.
func ListenMetrics(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNotLoopback, addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, fmt.Errorf("status: metrics: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%w: bound %v", ErrNotLoopback, ln.Addr())
	}
	return ln, nil
}

// ServeMetrics serves /metrics on addr (loopback only, see ListenMetrics)
// until ctx is done, then returns nil. With no gatherers it serves
// prometheus.DefaultGatherer.
func ServeMetrics(ctx context.Context, addr string, gatherers ...prometheus.Gatherer) error {
	ln, err := ListenMetrics(addr)
	if err != nil {
		return err
	}
	return ServeMetricsOn(ctx, ln, gatherers...)
}

// ServeMetricsOn serves /metrics on ln until ctx is done, then returns nil.
// It closes ln.
func ServeMetricsOn(ctx context.Context, ln net.Listener, gatherers ...prometheus.Gatherer) error {
	var g prometheus.Gatherer = prometheus.DefaultGatherer
	switch len(gatherers) {
	case 0:
	case 1:
		g = gatherers[0]
	default:
		g = prometheus.Gatherers(gatherers)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
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
