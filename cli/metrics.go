package cli

import (
	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/status"
)

// checkMetricsWebConfig checks the file of status.metrics_web_config as
// the metrics endpoint will read it: exporter-toolkit's format, and TLS
// with basic auth when status.metrics_listen is not loopback. check-config
// and run refuse a file that cannot be used, as they do a bad CA file,
// instead of a kiosk that comes up with its metrics silently off.
func checkMetricsWebConfig(cfg *config.Config) error {
	s := cfg.Status
	if s.MetricsListen == "" || s.MetricsWebConfig == "" {
		return nil
	}
	return status.CheckWebConfig(s.MetricsWebConfig, !status.IsLoopback(s.MetricsListen))
}
