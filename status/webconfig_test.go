package status

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"
)

// TestWebConfigIsTheExportersFormat: every file kioskd accepts is a valid
// web config for prometheus/exporter-toolkit too (its own web.Validate),
// and a key of that format kioskd does not implement is refused by name,
// never ignored.
func TestWebConfigIsTheExportersFormat(t *testing.T) {
	lab := newWebLab(t)
	accepted := map[string]string{
		"tls and auth": lab.config(t, "both.yml", true, true),
		"auth only":    lab.config(t, "auth.yml", false, true),
		"tls only":     lab.config(t, "tls.yml", true, false),
		"everything kioskd reads": lab.write(t, "all.yml", "tls_server_config:\n  cert_file: metrics.crt\n  key_file: "+lab.key+
			"\n  client_ca_file: metrics.crt\n  client_auth_type: VerifyClientCertIfGiven\n  min_version: TLS13\n  max_version: TLS13\n"+
			"http_server_config:\n  http2: false\nbasic_auth_users:\n  "+scrapeUser+": "+lab.hash+"\n  other: "+lab.hash+"\n"),
		"inline pem": lab.write(t, "inline.yml", "tls_server_config:\n  cert: |\n"+indent(lab.read(t, lab.cert))+"  key: |\n"+indent(lab.read(t, lab.key))),
		"empty":      lab.write(t, "empty.yml", ""),
	}
	for what, path := range accepted {
		if err := CheckWebConfig(path, false); err != nil {
			t.Errorf("%s: kioskd refuses it: %v", what, err)
		}
		if err := web.Validate(path); err != nil {
			t.Errorf("%s: exporter-toolkit refuses what kioskd accepts: %v", what, err)
		}
	}
	for _, c := range []struct{ key, file string }{
		{"tls_server_config.cipher_suites", "tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"},
		{"tls_server_config.client_allowed_sans", "tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\n  client_allowed_sans: [x]\n"},
		{"http_server_config.headers", "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"},
		{"rate_limit", "rate_limit:\n  interval: 1s\n  burst: 1\n"},
	} {
		path := lab.write(t, "unsupported.yml", c.file)
		if err := web.Validate(path); err != nil {
			t.Fatalf("%s: exporter-toolkit refuses the sample too: %v", c.key, err)
		}
		err := CheckWebConfig(path, false)
		if !errors.Is(err, ErrWebConfig) || !strings.Contains(err.Error(), c.key+" is not supported by kioskd") {
			t.Errorf("%s: %v, want it refused by name", c.key, err)
		}
	}
	for what, file := range map[string]string{
		"a key without its certificate":     "tls_server_config:\n  key_file: metrics.key\n",
		"a certificate that does not exist": "tls_server_config:\n  cert_file: nope.crt\n  key_file: metrics.key\n",
		"a client CA without TLS":           "tls_server_config:\n  client_ca_file: metrics.crt\n",
		"an unknown TLS version":            "tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\n  min_version: SSL3\n",
		"a password in clear":               "basic_auth_users:\n  prometheus: hunter2-in-clear\n",
		"a list":                            "- a\n- b\n",
	} {
		err := CheckWebConfig(lab.write(t, "bad.yml", file), false)
		if !errors.Is(err, ErrWebConfig) {
			t.Errorf("%s: %v, want ErrWebConfig", what, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", what, err)
		}
	}
}

// TestWebConfigReadAtEachScrape: a new password in the file takes effect
// at the next scrape, with no restart; the old one stops working.
func TestWebConfigReadAtEachScrape(t *testing.T) {
	lab := newWebLab(t)
	path := lab.config(t, "web.yml", true, true)
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ln, err := ListenMetrics("127.0.0.1:0", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetricsOn(ctx, ln, path, nil, reg) }()
	defer func() { cancel(); <-done }()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: lab.pool}}}
	get := func(pass string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/metrics", nil)
		req.SetBasicAuth(scrapeUser, pass)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(scrapePassword); code != 200 {
		t.Fatalf("first password: %d", code)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("the-next-password-456"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	lab.write(t, "web.yml", "tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\nbasic_auth_users:\n  "+scrapeUser+": "+string(h)+"\n")
	if code := get("the-next-password-456"); code != 200 {
		t.Errorf("the new password: %d, want 200", code)
	}
	if code := get(scrapePassword); code != http.StatusUnauthorized {
		t.Errorf("the old password: %d, want 401", code)
	}
}

func (l webLab) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(l.dir, name)
	write(t, path, content)
	return path
}

func (l webLab) read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
