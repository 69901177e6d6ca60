package status

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are kioskd's Prometheus metrics. Every family is listed, with
// its type, labels and meaning, in the README ("Metrics") and kioskd(8);
// TestMetricsAreDocumented holds the three together, and
// `promtool check metrics` (TestPromtoolChecksARealScrape in cli) finds
// nothing to complain about. The session's are fed by its events:
//
//	kioskd_build_info{version,commit,goversion}   gauge 1 (build.go)
//	kioskd_connection_state                       gauge, the current step (0–4)
//	kioskd_state{state}                           gauge, 1 for the current state, 0 for the other four
//	kioskd_state_since_timestamp_seconds          gauge, when the current state was entered
//	kioskd_last_connected_timestamp_seconds       gauge, when Connected was last reached (0: not yet)
//	kioskd_queue_position                         gauge, while searching
//	kioskd_conversation_state{state}              gauge, 1 for what the DP is doing (none: nothing published), 0 for the others
//	kioskd_connect_attempts_total{result}         counter, attempts that ended: connected or failed
//	kioskd_connects_total                         counter, Connected reached
//	kioskd_resumes_total                          counter, Connected by resuming the stored session
//	kioskd_connect_errors_total{error_name,detail} counter, failed connects (docs/BEHAVIOUR.md section 2)
//	kioskd_disconnects_total{reason}              counter, ends of Connected sessions (section 3)
//	kioskd_media_failures_total                   counter, capture tracks that failed
//	kioskd_time_to_connected_seconds              histogram, leaving Disconnected → Connected
//	kioskd_recovery_seconds                       histogram, controlDisconnected → Connected again
//	kioskd_media_path_restarts_total{result}      counter, in-call repairs of the media path: recovered or failed
//	kioskd_media_path_restart_seconds             histogram, how long a recovered one took
//
// and Media (media.go) and the health gauges (health.go), which the daemon
// feeds. Every label value of a counter exists from the start, at 0, so
// rate() and increase() work from the first scrape.
type Metrics struct {
	state         prometheus.Gauge
	states        *prometheus.GaugeVec
	stateSince    prometheus.Gauge
	lastConnected prometheus.Gauge
	queue         prometheus.Gauge
	conversation  *prometheus.GaugeVec
	attempts      *prometheus.CounterVec
	connects      prometheus.Counter
	resumes       prometheus.Counter
	connectErrors *prometheus.CounterVec
	disconnects   *prometheus.CounterVec
	mediaFailures prometheus.Counter
	timeToConn    prometheus.Histogram
	recovery      prometheus.Histogram
	// In-call repairs of the media path (contract.EventPathRestart):
	// invisible on the states, so counted for fleets.
	pathRestarts    *prometheus.CounterVec
	pathRestartTime prometheus.Histogram

	// Media is for the media code; its methods are safe on a nil *MediaMetrics.
	Media *MediaMetrics
	// Health reports the devices and LEDs at each scrape (health.go).
	Health *HealthMetrics

	mu            sync.Mutex
	prev          contract.ConnectionState
	attemptStart  time.Time
	recoveryStart time.Time
}

// Attempt results (kioskd_connect_attempts_total{result}) and media path
// restart results (kioskd_media_path_restarts_total{result}: recovered or
// failed).
const (
	ResultConnected = "connected"
	ResultFailed    = "failed"
	ResultRecovered = "recovered"
)

// NewMetrics creates the metrics and registers them with reg. Until the
// first event the kiosk is Disconnected, since now.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		state: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_connection_state",
			Help: "Current connection step: 0 Disconnected, 1 SearchingForDigitalPerson, 2 DownloadingAssets, 3 ConnectingToDigitalPerson, 4 Connected."}),
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kioskd_state",
			Help: "1 for the current connection state, 0 for the others."}, []string{"state"}),
		stateSince: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_state_since_timestamp_seconds",
			Help: "When the current connection state was entered (Unix time)."}),
		lastConnected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_last_connected_timestamp_seconds",
			Help: "When Connected was last reached (Unix time); 0 if not since kioskd started."}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kioskd_queue_position",
			Help: "Queue position reported by the server while searching for a Digital Person (0 otherwise)."}),
		conversation: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kioskd_conversation_state",
			Help: "1 for what the Digital Person is doing (idle, initializing, listening, thinking, speaking; none: no call, or a DP that publishes nothing), 0 for the others."}, []string{"state"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_connect_attempts_total",
			Help: "Connect attempts that ended, by result: connected, or failed (with an error name, see kioskd_connect_errors_total)."}, []string{"result"}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_connects_total",
			Help: "Times the session reached Connected."}),
		resumes: prometheus.NewCounter(prometheus.CounterOpts{Name: "kioskd_resumes_total",
			Help: "Times Connected was reached by resuming the stored session."}),
		connectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_connect_errors_total",
			Help: "Failed connects by error name, and the detail that narrows it down (\"\" mostly; unauthorized: the token was refused; clock: the system clock is wrong)."}, []string{"error_name", "detail"}),
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
		pathRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kioskd_media_path_restarts_total",
			Help: "In-call repairs of the media path after a network change or a lost path (kioskd.dp.v1's ICE restart, LiveKit's in-call resume), by result: recovered (still Connected) or failed (controlDisconnected followed)."}, []string{"result"}),
		pathRestartTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kioskd_media_path_restart_seconds",
			Help:    "Time from the start of a recovered media path repair to the path back.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2, 4, 6}}),
		Media:  newMediaMetrics(),
		Health: newHealthMetrics(),
	}
	// Every label value shows up at 0, so rate() works from the start.
	for _, r := range []string{ResultConnected, ResultFailed} {
		m.attempts.WithLabelValues(r)
	}
	for _, r := range []string{ResultRecovered, ResultFailed} {
		m.pathRestarts.WithLabelValues(r)
	}
	for _, n := range contract.AllErrorNames {
		m.connectErrors.WithLabelValues(n.String(), "")
	}
	for _, d := range contract.AllErrorDetails {
		m.connectErrors.WithLabelValues(d.Name().String(), d.String())
	}
	for _, r := range contract.AllDisconnectReasons {
		m.disconnects.WithLabelValues(r.String())
	}
	m.setState(contract.Disconnected, time.Now())
	m.setConversation(contract.ConversationNone)
	cs := []prometheus.Collector{newBuildInfo(), m.state, m.states, m.stateSince, m.lastConnected, m.queue, m.conversation,
		m.attempts, m.connects, m.resumes, m.connectErrors, m.disconnects, m.mediaFailures, m.timeToConn, m.recovery,
		m.pathRestarts, m.pathRestartTime, m.Health}
	cs = append(cs, m.Media.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("status: register metrics: %w", err)
		}
	}
	return m, nil
}

// setState moves the state gauges to s, entered at.
func (m *Metrics) setState(s contract.ConnectionState, at time.Time) {
	m.state.Set(float64(s.Step()))
	for _, st := range contract.AllStates {
		v := 0.0
		if st == s {
			v = 1
		}
		m.states.WithLabelValues(st.String()).Set(v)
	}
	m.stateSince.Set(unixSeconds(at))
}

// setConversation moves the conversation gauges to c.
func (m *Metrics) setConversation(c contract.ConversationState) {
	for _, st := range contract.AllConversationStates {
		v := 0.0
		if st == c {
			v = 1
		}
		m.conversation.WithLabelValues(st.String()).Set(v)
	}
}

// unixSeconds is t as a Prometheus timestamp: Unix seconds, fractional.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Observe updates the metrics for one event. Durations use the events' times.
func (m *Metrics) Observe(e contract.Event) {
	if e.Kind == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.State != contract.SearchingForDigitalPerson {
		m.queue.Set(0)
	}
	switch e.Kind {
	case contract.EventState:
		if e.State != m.prev {
			m.setState(e.State, e.Time)
		}
		if m.prev == contract.Disconnected && e.State != contract.Disconnected {
			m.attemptStart = e.Time
		}
		if e.State == contract.Connected && m.prev != contract.Connected {
			m.connects.Inc()
			m.attempts.WithLabelValues(ResultConnected).Inc()
			m.lastConnected.Set(unixSeconds(e.Time))
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
	case contract.EventConversation:
		m.setConversation(e.Conversation)
	case contract.EventConnectFailed:
		if e.ErrorName != contract.NoError {
			m.attempts.WithLabelValues(ResultFailed).Inc()
			m.connectErrors.WithLabelValues(e.ErrorName.String(), e.ErrorDetail.String()).Inc()
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
	case contract.EventPathRestart:
		if e.Recovered {
			m.pathRestarts.WithLabelValues(ResultRecovered).Inc()
			m.pathRestartTime.Observe(e.Took.Seconds())
		} else {
			m.pathRestarts.WithLabelValues(ResultFailed).Inc()
		}
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

// NewRegistry returns a registry with the Go runtime and process collectors
// (go_*, process_*), for NewMetrics and ServeMetrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
