package status

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Health is how one part kioskd depends on is doing at a scrape.
type Health struct {
	Name string // the label value: camera, microphone, speaker; or the LED backend
	Up   bool
}

// HealthMetrics are read from the parts themselves at each scrape, so they
// are never older than the scrape:
//
//	kioskd_device_up{device}   1 while the configured camera, microphone or speaker works (or
//	                           has not been needed yet), 0 after its open failed or it stopped,
//	                           until it opens again; no series for a device configured none
//	kioskd_leds_up{backend}    1 while the LED backend of leds.backend drives the LEDs, 0 when it
//	                           could not be opened (kioskd runs without LEDs) or a write fails
//
// The daemon says where to read them (WatchDevices, WatchLEDs); until then
// they have no series.
type HealthMetrics struct {
	device, leds *prometheus.Desc

	mu      sync.Mutex
	devices func() []Health
	backend string
	ledsUp  func() bool
}

func newHealthMetrics() *HealthMetrics {
	return &HealthMetrics{
		device: prometheus.NewDesc("kioskd_device_up",
			"1 while the configured device works (or has not been needed yet), 0 after it failed to open or stopped.", []string{"device"}, nil),
		leds: prometheus.NewDesc("kioskd_leds_up",
			"1 while the configured LED backend drives the LEDs, 0 when it could not be opened or a write fails.", []string{"backend"}, nil),
	}
}

// WatchDevices reads kioskd_device_up from f at each scrape.
func (h *HealthMetrics) WatchDevices(f func() []Health) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.devices = f
}

// WatchLEDs reads kioskd_leds_up{backend} from up at each scrape.
func (h *HealthMetrics) WatchLEDs(backend string, up func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.backend, h.ledsUp = backend, up
}

// Describe implements prometheus.Collector.
func (h *HealthMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.device
	ch <- h.leds
}

// Collect implements prometheus.Collector.
func (h *HealthMetrics) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	devices, backend, ledsUp := h.devices, h.backend, h.ledsUp
	h.mu.Unlock()
	if devices != nil {
		for _, d := range devices() {
			ch <- prometheus.MustNewConstMetric(h.device, prometheus.GaugeValue, up(d.Up), d.Name)
		}
	}
	if ledsUp != nil {
		ch <- prometheus.MustNewConstMetric(h.leds, prometheus.GaugeValue, up(ledsUp()), backend)
	}
}

func up(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
