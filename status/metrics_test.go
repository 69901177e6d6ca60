package status

import (
	"github.com/kioskd/kioskd/contract"

	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsFromEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := since
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	state := func(ms int, s contract.ConnectionState) contract.Event {
		return contract.Event{Kind: contract.EventState, Time: at(ms), State: s, SessionID: "sid"}
	}
	seq := []contract.Event{
		// Attempt 1: noScene.
		state(0, contract.SearchingForDigitalPerson),
		{Kind: contract.EventQueue, Time: at(10), State: contract.SearchingForDigitalPerson, QueuePosition: 3},
		state(50, contract.Disconnected),
		{Kind: contract.EventConnectFailed, Time: at(50), State: contract.Disconnected, ErrorName: contract.NoScene},
		{Kind: contract.EventRetry, Time: at(50), State: contract.Disconnected, Delay: time.Second, ErrorName: contract.NoScene},
		// A refused token: no state change, the name with its detail.
		{Kind: contract.EventConnectFailed, Time: at(500), State: contract.Disconnected, ErrorName: contract.ServerConnectionFailed, ErrorDetail: contract.DetailUnauthorized},
		// Attempt 2: Connected 120 ms after leaving Disconnected.
		state(1000, contract.SearchingForDigitalPerson),
		state(1040, contract.DownloadingAssets),
		state(1080, contract.ConnectingToDigitalPerson),
		state(1120, contract.Connected),
		// A non-state event while Connected counts no second connect.
		{Kind: contract.EventQueue, Time: at(1500), State: contract.Connected},
		// Control lost; a failed attempt; then resumed 2.5 s after the loss.
		{Kind: contract.EventDisconnected, Time: at(5000), State: contract.Disconnected, Reason: contract.ReasonControlDisconnected},
		state(5000, contract.Disconnected),
		state(5010, contract.SearchingForDigitalPerson),
		state(5100, contract.Disconnected),
		{Kind: contract.EventConnectFailed, Time: at(5100), State: contract.Disconnected, ErrorName: contract.ServerConnectionFailed},
		state(7000, contract.SearchingForDigitalPerson),
		state(7200, contract.ConnectingToDigitalPerson),
		{Kind: contract.EventState, Time: at(7500), State: contract.Connected, SessionID: "sid", Resumed: true},
		{Kind: contract.EventMediaFailed, Time: at(8000), State: contract.Connected, ErrorName: contract.MediaStreamFailed},
		{Kind: contract.EventDisconnected, Time: at(9000), State: contract.Disconnected, Reason: contract.ReasonSessionTimeout},
		state(9000, contract.Disconnected),
	}
	for i, e := range seq {
		m.Observe(e)
		if i == 1 {
			if got := testutil.ToFloat64(m.queue); got != 3 {
				t.Errorf("queue position = %v, want 3", got)
			}
		}
		if i == 9 {
			if got := testutil.ToFloat64(m.state); got != 4 {
				t.Errorf("state gauge when Connected = %v, want 4", got)
			}
		}
	}

	check := func(name string, c prometheus.Collector, want float64) {
		t.Helper()
		if got := testutil.ToFloat64(c); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("kioskd_connection_state", m.state, 0)
	check("kioskd_queue_position", m.queue, 0)
	check("kioskd_connects_total", m.connects, 2)
	check("kioskd_resumes_total", m.resumes, 1)
	check("kioskd_media_failures_total", m.mediaFailures, 1)
	check(`connect_errors{noScene}`, m.connectErrors.WithLabelValues("noScene", ""), 1)
	check(`connect_errors{serverConnectionFailed}`, m.connectErrors.WithLabelValues("serverConnectionFailed", ""), 1)
	check(`connect_errors{serverConnectionFailed,unauthorized}`, m.connectErrors.WithLabelValues("serverConnectionFailed", "unauthorized"), 1)
	check(`connect_errors{controlFailed}`, m.connectErrors.WithLabelValues("controlFailed", ""), 0)
	check(`attempts{connected}`, m.attempts.WithLabelValues("connected"), 2)
	check(`attempts{failed}`, m.attempts.WithLabelValues("failed"), 3)
	check("kioskd_last_connected_timestamp_seconds", m.lastConnected, unixSeconds(at(7500)))
	check("kioskd_state_since_timestamp_seconds", m.stateSince, unixSeconds(at(9000)))
	check(`kioskd_state{Disconnected}`, m.states.WithLabelValues("Disconnected"), 1)
	check(`kioskd_state{Connected}`, m.states.WithLabelValues("Connected"), 0)
	check(`disconnects{controlDisconnected}`, m.disconnects.WithLabelValues("controlDisconnected"), 1)
	check(`disconnects{sessionTimeout}`, m.disconnects.WithLabelValues("sessionTimeout"), 1)
	// Every label value exists from the start.
	if n := testutil.CollectAndCount(m.connectErrors); n != 10 {
		t.Errorf("connect error series = %d, want 8 names, serverConnectionFailed/unauthorized and serverConnectionFailed/clock", n)
	}
	check(`connect_errors{serverConnectionFailed,clock}`, m.connectErrors.WithLabelValues("serverConnectionFailed", "clock"), 0)
	if n := testutil.CollectAndCount(m.attempts); n != 2 {
		t.Errorf("attempt series = %d, want connected and failed", n)
	}
	if n := testutil.CollectAndCount(m.disconnects); n != 4 {
		t.Errorf("disconnect series = %d, want 4", n)
	}

	// time to connected: 0.12 s (attempt 2) and 0.5 s (7000 → 7500 ms).
	// recovery: 2.5 s (5000 → 7500 ms).
	expected := `
# HELP kioskd_recovery_seconds Time from a controlDisconnected disconnect to Connected again, retries included.
# TYPE kioskd_recovery_seconds histogram
kioskd_recovery_seconds_bucket{le="0.1"} 0
kioskd_recovery_seconds_bucket{le="0.3"} 0
kioskd_recovery_seconds_bucket{le="0.5"} 0
kioskd_recovery_seconds_bucket{le="1"} 0
kioskd_recovery_seconds_bucket{le="2"} 0
kioskd_recovery_seconds_bucket{le="5"} 1
kioskd_recovery_seconds_bucket{le="10"} 1
kioskd_recovery_seconds_bucket{le="30"} 1
kioskd_recovery_seconds_bucket{le="60"} 1
kioskd_recovery_seconds_bucket{le="120"} 1
kioskd_recovery_seconds_bucket{le="300"} 1
kioskd_recovery_seconds_bucket{le="+Inf"} 1
kioskd_recovery_seconds_sum 2.5
kioskd_recovery_seconds_count 1
# HELP kioskd_time_to_connected_seconds Time from leaving Disconnected to Connected, per successful attempt.
# TYPE kioskd_time_to_connected_seconds histogram
kioskd_time_to_connected_seconds_bucket{le="0.05"} 0
kioskd_time_to_connected_seconds_bucket{le="0.1"} 0
kioskd_time_to_connected_seconds_bucket{le="0.15"} 1
kioskd_time_to_connected_seconds_bucket{le="0.25"} 1
kioskd_time_to_connected_seconds_bucket{le="0.5"} 2
kioskd_time_to_connected_seconds_bucket{le="1"} 2
kioskd_time_to_connected_seconds_bucket{le="2.5"} 2
kioskd_time_to_connected_seconds_bucket{le="5"} 2
kioskd_time_to_connected_seconds_bucket{le="10"} 2
kioskd_time_to_connected_seconds_bucket{le="30"} 2
kioskd_time_to_connected_seconds_bucket{le="60"} 2
kioskd_time_to_connected_seconds_bucket{le="+Inf"} 2
kioskd_time_to_connected_seconds_sum 0.62
kioskd_time_to_connected_seconds_count 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kioskd_time_to_connected_seconds", "kioskd_recovery_seconds"); err != nil {
		t.Error(err)
	}

	// Media metrics, and a nil MediaMetrics is a no-op.
	m.Media.AddSent(MediaCounts{VideoFrames: 15, AudioPackets: 50, VideoBytes: 30000, AudioBytes: 4000})
	m.Media.AddSent(MediaCounts{VideoFrames: 15, AudioPackets: 50, VideoBytes: 30000, AudioBytes: 4000})
	m.Media.AddReceived(MediaCounts{VideoFrames: 10, AudioPackets: 50, VideoBytes: 9000, AudioBytes: 8000})
	check("video_frames_sent", m.Media.videoFramesSent, 30)
	check("audio_packets_sent", m.Media.audioPacketsSent, 100)
	check("sent_bytes{video}", m.Media.bytesSent.WithLabelValues("video"), 60000)
	check("sent_bytes{audio}", m.Media.bytesSent.WithLabelValues("audio"), 8000)
	check("video_frames_received", m.Media.videoFramesReceived, 10)
	check("audio_packets_received", m.Media.audioPacketsReceived, 50)
	check("received_bytes{audio}", m.Media.bytesReceived.WithLabelValues("audio"), 8000)
	var none *MediaMetrics
	none.AddSent(MediaCounts{VideoFrames: 1})
	none.AddReceived(MediaCounts{VideoFrames: 1})

	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}

func TestMetricsFollowBus(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	bus := contract.NewBus()
	sub, cancel := bus.Subscribe()
	defer cancel()
	done := make(chan struct{})
	go func() { m.Follow(context.Background(), sub); close(done) }()
	bus.Publish(contract.Event{Kind: contract.EventState, Time: since, State: contract.SearchingForDigitalPerson})
	bus.Publish(contract.Event{Kind: contract.EventState, Time: since.Add(time.Second), State: contract.Connected})
	bus.Close()
	<-done
	if got := testutil.ToFloat64(m.connects); got != 1 {
		t.Fatalf("connects = %v", got)
	}
}

func TestMetricsLoopbackOnly(t *testing.T) {
	for _, addr := range []string{":9120", "0.0.0.0:9120", "[::]:9120", "192.168.1.10:9120", "10.0.0.1:0", "example.com:9120", "9120", ""} {
		ln, err := ListenMetrics(addr, "")
		if err == nil {
			ln.Close()
		}
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("ListenMetrics(%q) = %v, want ErrNotLoopback", addr, err)
		}
		if err := ServeMetrics(context.Background(), addr, "", nil); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("ServeMetrics(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "127.0.0.2:0"} {
		ln, err := ListenMetrics(addr, "")
		if err != nil {
			t.Errorf("ListenMetrics(%q) = %v", addr, err)
			continue
		}
		ln.Close()
	}
}

func TestServeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	m.Observe(contract.Event{Kind: contract.EventState, Time: since, State: contract.Connected})
	ln, err := ListenMetrics("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetricsOn(ctx, ln, "", nil, reg) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"kioskd_connects_total 1", "kioskd_connection_state 4", `kioskd_connect_errors_total{detail="",error_name="noScene"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeMetricsOn after cancel = %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/metrics"); err == nil {
		t.Fatal("metrics still served after cancel")
	}
}

func TestNewRegistry(t *testing.T) {
	reg := NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) == 0 {
		t.Fatalf("Gather = %d families, %v", len(mfs), err)
	}
}

// kioskd_conversation_state has a series for every conversation state
// from the start, none at 1; each change moves the 1, and the end of the
// call (none again) puts it back.
func TestConversationMetric(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.conversation); n != len(contract.AllConversationStates) {
		t.Fatalf("conversation series = %d, want %d", n, len(contract.AllConversationStates))
	}
	for _, c := range []contract.ConversationState{contract.ConversationNone, contract.ConversationListening, contract.ConversationThinking, contract.ConversationSpeaking, contract.ConversationNone} {
		m.Observe(contract.Event{Kind: contract.EventConversation, Time: since, State: contract.Connected, Conversation: c})
		for _, st := range contract.AllConversationStates {
			want := 0.0
			if st == c {
				want = 1
			}
			if got := testutil.ToFloat64(m.conversation.WithLabelValues(st.String())); got != want {
				t.Errorf("after %v: kioskd_conversation_state{%v} = %v, want %v", c, st, got, want)
			}
		}
	}
}

// In-call media path repairs count by result, from the start (both at 0),
// and a recovered one's time goes in the histogram; they move no state.
func TestPathRestartMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.pathRestarts); n != 2 {
		t.Fatalf("path restart series = %d, want recovered and failed at 0", n)
	}
	m.Observe(contract.Event{Kind: contract.EventState, Time: since, State: contract.Connected})
	for _, e := range []contract.Event{
		{Kind: contract.EventPathRestart, State: contract.Connected, Recovered: true, Took: 40 * time.Millisecond},
		{Kind: contract.EventPathRestart, State: contract.Connected, Recovered: true, Took: 1500 * time.Millisecond},
		{Kind: contract.EventPathRestart, State: contract.Connected, Recovered: false, Took: 6 * time.Second},
	} {
		m.Observe(e)
	}
	if got := testutil.ToFloat64(m.pathRestarts.WithLabelValues(ResultRecovered)); got != 2 {
		t.Errorf("recovered = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.pathRestarts.WithLabelValues(ResultFailed)); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.state); got != 4 {
		t.Errorf("state gauge %v after path restarts, want 4 (Connected)", got)
	}
	expected := `
# HELP kioskd_media_path_restart_seconds Time from the start of a recovered media path repair to the path back.
# TYPE kioskd_media_path_restart_seconds histogram
kioskd_media_path_restart_seconds_bucket{le="0.025"} 0
kioskd_media_path_restart_seconds_bucket{le="0.05"} 1
kioskd_media_path_restart_seconds_bucket{le="0.1"} 1
kioskd_media_path_restart_seconds_bucket{le="0.25"} 1
kioskd_media_path_restart_seconds_bucket{le="0.5"} 1
kioskd_media_path_restart_seconds_bucket{le="1"} 1
kioskd_media_path_restart_seconds_bucket{le="2"} 2
kioskd_media_path_restart_seconds_bucket{le="4"} 2
kioskd_media_path_restart_seconds_bucket{le="6"} 2
kioskd_media_path_restart_seconds_bucket{le="+Inf"} 2
kioskd_media_path_restart_seconds_sum 1.54
kioskd_media_path_restart_seconds_count 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "kioskd_media_path_restart_seconds"); err != nil {
		t.Error(err)
	}
}
