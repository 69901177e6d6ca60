package config

import "testing"

// TestMetricsBeyondLoopbackWithWebConfig: an address that is not loopback
// is accepted with a web config file (whose content status checks), and
// refused without one (TestValidationErrors).
func TestMetricsBeyondLoopbackWithWebConfig(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9120", "[::]:9120", "192.0.2.10:9120"} {
		c, err := Parse([]byte("status:\n  metrics_listen: \""+addr+"\"\n  metrics_web_config: /etc/kioskd/metrics-web.yml\n"), "kioskd.yaml")
		if err != nil {
			t.Errorf("%s with a web config: %v", addr, err)
			continue
		}
		if c.Status.MetricsListen != addr || c.Status.MetricsWebConfig != "/etc/kioskd/metrics-web.yml" {
			t.Errorf("status section %+v", c.Status)
		}
	}
	if _, err := Parse([]byte("status:\n  metrics_listen: 127.0.0.1:9120\n"), "kioskd.yaml"); err != nil {
		t.Errorf("loopback without a web config: %v", err)
	}
}
