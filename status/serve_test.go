package status

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kioskd/kioskd/contract"
	"github.com/prometheus/client_golang/prometheus"
)

// webLab is a certificate for 127.0.0.1 and localhost, its key, and a
// bcrypt hash of the scrape password, in a temporary folder, as an
// operator would put them in /etc/kioskd.
type webLab struct {
	dir, cert, key, hash string
	pool                 *x509.CertPool
}

const (
	scrapeUser     = "prometheus"
	scrapePassword = "fleet-scrape-pass-0123"
)

func newWebLab(t *testing.T) webLab {
	t.Helper()
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kiosk-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	lab := webLab{dir: dir, cert: filepath.Join(dir, "metrics.crt"), key: filepath.Join(dir, "metrics.key")}
	write(t, lab.cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	write(t, lab.key, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})))
	h, err := bcrypt.GenerateFromPassword([]byte(scrapePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	lab.hash = string(h)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	lab.pool = x509.NewCertPool()
	lab.pool.AddCert(cert)
	return lab
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// config writes a web config file with TLS (tls), basic auth (auth), or both.
func (l webLab) config(t *testing.T, name string, tls, auth bool) string {
	t.Helper()
	var b strings.Builder
	if tls {
		b.WriteString("tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\n")
	}
	if auth {
		b.WriteString("basic_auth_users:\n  " + scrapeUser + ": " + l.hash + "\n")
	}
	path := filepath.Join(l.dir, name)
	write(t, path, b.String())
	return path
}

// TestMetricsWithTLSAndBasicAuth: on an address that is not loopback
// (all interfaces here; the test connects over loopback) with a web
// config that turns on TLS and basic auth, a scrape over HTTPS with the
// password gets the metrics, one without it or with a wrong one gets 401,
// and plain HTTP gets no metrics.
func TestMetricsWithTLSAndBasicAuth(t *testing.T) {
	lab := newWebLab(t)
	web := lab.config(t, "web.yml", true, true)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Observe(contract.Event{Kind: contract.EventState, Time: since, State: contract.Connected})
	ln, err := ListenMetrics("0.0.0.0:0", web)
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeMetricsOn(ctx, ln, web, nil, reg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeMetricsOn = %v", err)
		}
	}()

	url := "https://127.0.0.1:" + itoa(port) + "/metrics"
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: lab.pool}}}
	get := func(user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(scrapeUser, scrapePassword); code != 200 || !strings.Contains(body, "kioskd_connection_state 4") {
		t.Fatalf("HTTPS with the password: %d\n%.300s", code, body)
	}
	if code, body := get("", ""); code != http.StatusUnauthorized || strings.Contains(body, "kioskd_") {
		t.Errorf("HTTPS without auth: %d %.100q, want 401", code, body)
	}
	if code, _ := get(scrapeUser, "wrong-password"); code != http.StatusUnauthorized {
		t.Errorf("HTTPS with a wrong password: %d, want 401", code)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + itoa(port) + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "kioskd_") {
			t.Errorf("plain HTTP served the metrics: %d", resp.StatusCode)
		}
	}
}

// TestMetricsWebConfigRefused: an address that is not loopback needs a
// web config with both TLS and basic auth; a broken file is refused with
// its name and never the hash; on loopback a web config with auth only is
// accepted.
func TestMetricsWebConfigRefused(t *testing.T) {
	lab := newWebLab(t)
	authOnly := lab.config(t, "auth.yml", false, true)
	tlsOnly := lab.config(t, "tls.yml", true, false)
	broken := filepath.Join(lab.dir, "broken.yml")
	write(t, broken, "basic_auth_users:\n  "+scrapeUser+": not-a-bcrypt-hash\n")
	unknown := filepath.Join(lab.dir, "unknown.yml")
	write(t, unknown, "tls_server_config:\n  cert_fil: metrics.crt\n")
	for _, c := range []struct {
		addr, web string
		want      error
	}{
		{"0.0.0.0:0", "", ErrNotLoopback},
		{"0.0.0.0:0", authOnly, ErrInsecureWebConfig},
		{"[::]:0", tlsOnly, ErrInsecureWebConfig},
		{"0.0.0.0:0", broken, ErrWebConfig},
		{"127.0.0.1:0", unknown, ErrWebConfig},
		{"127.0.0.1:0", filepath.Join(lab.dir, "missing.yml"), ErrWebConfig},
	} {
		ln, err := ListenMetrics(c.addr, c.web)
		if err == nil {
			ln.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("ListenMetrics(%q, %s) = %v, want %v", c.addr, filepath.Base(c.web), err, c.want)
			continue
		}
		if c.web != "" && !strings.Contains(err.Error(), filepath.Base(c.web)) {
			t.Errorf("the error does not name the file: %v", err)
		}
		if strings.Contains(err.Error(), lab.hash) {
			t.Errorf("the error shows the password hash: %v", err)
		}
	}
	ln, err := ListenMetrics("127.0.0.1:0", authOnly)
	if err != nil {
		t.Fatalf("loopback with basic auth only: %v", err)
	}
	ln.Close()
}

func itoa(n int) string { return strconv.Itoa(n) }
