package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kioskd/kioskd/dpsim"
	"github.com/kioskd/kioskd/dpsim/dptest"
	"github.com/kioskd/kioskd/status"
)

// promtoolPath is the promtool scripts/promtool.sh provides: the path in
// KIOSKD_PROMTOOL, a promtool on the PATH, or the one it extracted into
// its cache. A test without it fails, saying how to get it: CI has it
// (scripts/test.sh), and a skipped test proves nothing.
func promtoolPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KIOSKD_PROMTOOL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("KIOSKD_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "kioskd")
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "promtool-*", "promtool")); len(m) > 0 {
		return m[len(m)-1]
	}
	t.Fatal("promtool not found: run scripts/promtool.sh (Debian's package prometheus), or set KIOSKD_PROMTOOL to its path")
	return ""
}

// freeLoopback is a loopback TCP address nobody listens on.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// scrapeText reads /metrics at addr once.
func scrapeText(ctx context.Context, addr string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return string(b), err
}

// samples are a scrape's samples keyed as printed, name{labels}.
func samples(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// waitScrape scrapes addr until cond holds or ctx ends.
func waitScrape(t *testing.T, ctx context.Context, addr, what string, cond func(map[string]float64) bool) (string, map[string]float64) {
	t.Helper()
	var last string
	for {
		text, err := scrapeText(ctx, addr)
		if err == nil {
			last = text
			if m := samples(text); cond(m) {
				return text, m
			}
		}
		select {
		case <-time.After(50 * time.Millisecond): // polling an HTTP endpoint, bounded by ctx
		case <-ctx.Done():
			t.Fatalf("waiting for %s on /metrics: %v; last scrape:\n%s", what, ctx.Err(), last)
		}
	}
}

// TestPromtoolChecksARealScrape: the real kioskd process, Connected to
// dpsim with metrics on loopback, serves a /metrics page that
// `promtool check metrics` (Debian 12's prometheus package) accepts
// without a single complaint, after a media update has filled the media
// counters; and the families a fleet reads are there with the values of
// a Connected kiosk.
func TestPromtoolChecksARealScrape(t *testing.T) {
	promtool := promtoolPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	addr := freeLoopback(t)
	lab := writeLab(t, dp, "  metrics_listen: "+addr+"\n")
	p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
	p.waitRecords(t, ctx, "Connected", nConnected(1))

	text, m := waitScrape(t, ctx, addr, "Connected and a media update", func(m map[string]float64) bool {
		return m[`kioskd_state{state="Connected"}`] == 1 && m["kioskd_media_video_frames_sent_total"] > 0 &&
			m[`kioskd_media_received_bytes_total{kind="audio"}`] > 0
	})
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}

	for key, want := range map[string]float64{
		"kioskd_connection_state":                                                                4,
		`kioskd_state{state="Disconnected"}`:                                                     0,
		`kioskd_connect_attempts_total{result="connected"}`:                                      1,
		`kioskd_disconnects_total{reason="normal"}`:                                              0,
		`kioskd_device_up{device="camera"}`:                                                      1,
		`kioskd_device_up{device="microphone"}`:                                                  1,
		`kioskd_leds_up{backend="ledclass"}`:                                                     1,
		`kioskd_connect_errors_total{detail="unauthorized",error_name="serverConnectionFailed"}`: 0,
	} {
		if got, ok := m[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if _, ok := m[`kioskd_device_up{device="speaker"}`]; ok {
		t.Error("a speaker configured none has a kioskd_device_up series")
	}
	now := float64(time.Now().Unix())
	for _, k := range []string{"kioskd_state_since_timestamp_seconds", "kioskd_last_connected_timestamp_seconds"} {
		if v := m[k]; v < now-120 || v > now+1 {
			t.Errorf("%s = %v, want a time within the last two minutes (now %v)", k, v, now)
		}
	}
	build := false
	for k, v := range m {
		if strings.HasPrefix(k, "kioskd_build_info{") && strings.Contains(k, `goversion="go`) && strings.Contains(k, `commit="`) && v == 1 {
			build = true
		}
	}
	if !build {
		t.Error("no kioskd_build_info{version,commit,goversion} 1")
	}
}

// TestRefusedTokenEverywhere: the real kioskd with a token dpsim refuses
// (HTTP 401 at the upgrade) keeps retrying with serverConnectionFailed,
// and every place says why: error_detail=unauthorized on its log lines
// (ERROR_DETAIL in the journal), last_error_detail on the status socket,
// "serverConnectionFailed (unauthorized)" in `kioskd status` and --check,
// and the metric's detail label. The token never shows.
func TestRefusedTokenEverywhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dp := dptest.NewServer(t, dpsim.Config{Scenario: dpsim.DefaultScenario()})
	addr := freeLoopback(t)
	lab := writeLab(t, dp, "  metrics_listen: "+addr+"\n")
	const wrong = "a-refused-token-0123456789"
	if err := os.WriteFile(filepath.Join(lab.dir, "token"), []byte(wrong+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startKioskd(t, nil, "run", "--config", lab.config, "--log-format", "json")
	recs := p.waitRecords(t, ctx, "two refused connects", func(recs []map[string]any) bool {
		n := 0
		for _, r := range recs {
			if r["error_name"] == "serverConnectionFailed" && r["error_detail"] == "unauthorized" && strings.HasPrefix(r["msg"].(string), "connect failed") {
				n++
			}
		}
		return n >= 2
	})
	for _, r := range recs {
		if r["msg"] == "connect failed: serverConnectionFailed (unauthorized)" {
			if e, _ := r["error"].(string); !strings.Contains(e, "token refused") {
				t.Errorf("the failure's cause %q does not say the token was refused", e)
			}
		}
	}

	st, err := status.Query(ctx, lab.socket)
	if err != nil || st.LastError != "serverConnectionFailed" || st.LastErrorDetail != "unauthorized" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	var out, errOut bytes.Buffer
	code := Main([]string{"status", "--socket", lab.socket}, &out, &errOut)
	if !strings.Contains(out.String(), "Last error:  serverConnectionFailed (unauthorized), LED code 3") || code == 0 {
		t.Errorf("kioskd status (exit %d):\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	Main([]string{"status", "--check", "--socket", lab.socket}, &out, &errOut)
	if !strings.Contains(out.String(), "(last error serverConnectionFailed (unauthorized), LED code 3)") {
		t.Errorf("kioskd status --check: %q", out.String())
	}
	waitScrape(t, ctx, addr, "the refusals counted with their detail", func(m map[string]float64) bool {
		return m[`kioskd_connect_errors_total{detail="unauthorized",error_name="serverConnectionFailed"}`] >= 2 &&
			m[`kioskd_connect_errors_total{detail="",error_name="serverConnectionFailed"}`] == 0 &&
			m[`kioskd_connect_attempts_total{result="failed"}`] >= 2
	})

	p.mu.Lock()
	all := strings.Join(p.lines, "\n")
	p.mu.Unlock()
	if strings.Contains(all, wrong) {
		t.Fatal("the refused token appears in kioskd's log")
	}
}

// TestCheckConfigMetricsWebConfig: check-config refuses metrics on an
// address that is not loopback without a web config, or with one that
// lacks TLS, naming the key or the file; on loopback a web config with
// basic auth alone is fine.
func TestCheckConfigMetricsWebConfig(t *testing.T) {
	dp := dptest.NewServer(t, dpsim.Config{})
	hash, err := bcrypt.GenerateFromPassword([]byte("fleet-scrape-pass-0123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "metrics-web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		extra, want string
		code        int
	}{
		{"  metrics_listen: 0.0.0.0:9120\n", "status.metrics_listen: \"0.0.0.0:9120\" is not a loopback address", exitConfig},
		{"  metrics_listen: 0.0.0.0:9120\n  metrics_web_config: " + web + "\n", "needs both TLS (tls_server_config) and basic auth (basic_auth_users) in status.metrics_web_config (" + web + " has no TLS)", exitConfig},
		{"  metrics_listen: 127.0.0.1:9120\n  metrics_web_config: " + web + "\n", ": OK", exitOK},
	} {
		lab := writeLab(t, dp, c.extra)
		var out, errOut bytes.Buffer
		code := Main([]string{"check-config", "--config", lab.config}, &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.want) {
			t.Errorf("%q: exit %d\n%s%s\nwant exit %d and %q", c.extra, code, out.String(), errOut.String(), c.code, c.want)
		}
		if strings.Contains(out.String()+errOut.String(), string(hash)) {
			t.Error("check-config shows the password hash")
		}
	}
}
