package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSConfigSystemRoots(t *testing.T) {
	tc, err := Default().TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if tc.RootCAs != nil {
		t.Fatal("an empty ca_file must leave RootCAs nil (the system roots)")
	}
	if tc.MinVersion < tls.VersionTLS12 {
		t.Fatalf("MinVersion = %x", tc.MinVersion)
	}
}

// With ca_file, a server signed by that CA is trusted and nothing else is.
func TestTLSConfigCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	c := Default()
	c.Server.CAFile = writeFile(t, "ca.pem", "# the lab CA\n"+string(certPEM), 0o644)
	tc, err := c.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the file's CA, not the system roots plus it.
	want := x509.NewCertPool()
	want.AddCert(srv.Certificate())
	if tc.RootCAs == nil || !tc.RootCAs.Equal(want) {
		t.Fatal("RootCAs is not exactly the CA in ca_file")
	}
	dial := func(tc *tls.Config) error {
		tc = tc.Clone()
		tc.ServerName = "example.com" // in httptest's certificate
		conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), tc)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(tc); err != nil {
		t.Fatalf("server signed by ca_file refused: %v", err)
	}
	// Only that CA: a server with another certificate is refused.
	c.Server.CAFile = writeFile(t, "other.pem", string(selfSigned(t)), 0o644)
	tc, err = c.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := dial(tc); !errors.As(err, &unknown) {
		t.Fatalf("server not signed by ca_file: got %v, want an unknown authority error", err)
	}
}

func TestTLSConfigBadCAFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	garbage := writeFile(t, "garbage.pem", "not a certificate\n", 0o644)
	key := writeFile(t, "key.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n", 0o644)
	huge := writeFile(t, "huge.pem", strings.Repeat("x", maxCAFileSize+1), 0o644)
	for name, tc := range map[string]struct {
		path   string
		wantIn string
	}{
		"missing":     {missing, "no such file"},
		"not PEM":     {garbage, "holds no PEM certificate"},
		"private key": {key, "holds no PEM certificate"},
		"huge":        {huge, "larger than"},
		"directory":   {t.TempDir(), "is a directory"},
	} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Server.CAFile = tc.path
			got, err := c.TLSConfig()
			if err == nil || got != nil {
				t.Fatalf("TLSConfig() = %v, %v; want an error", got, err)
			}
			if !errors.Is(err, ErrCAFile) {
				t.Errorf("error %v is not ErrCAFile", err)
			}
			if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q should name %s and say %q", err, tc.path, tc.wantIn)
			}
		})
	}
	c := Default()
	c.Server.CAFile = missing
	if _, err := c.TLSConfig(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v is not fs.ErrNotExist", err)
	}
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
