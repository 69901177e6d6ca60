package dpv1_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
	"github.com/kioskd/kioskd/dialect/dpv1"
	"github.com/kioskd/kioskd/dpwire"
)

// futureTLSServer is a real TLS server on loopback whose certificate is
// valid only from notBefore, and a client TLS config that trusts it: what
// a kiosk without a real-time clock meets before NTP has synchronised.
func futureTLSServer(t *testing.T, notBefore time.Time) (url string, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dp.test"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(365 * 24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler()) // reached only once the clock is right
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return "wss://" + srv.Listener.Addr().String() + "/v1/session", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func TestCertificateNotYetValidBeforeTheBuildDateIsTheClock(t *testing.T) {
	now := time.Now()
	url, tlsCfg := futureTLSServer(t, now.Add(48*time.Hour))
	ctx := ctxFor(t, 10*time.Second)
	d := &dpv1.WebSocket{}

	// The clock reads before the build date: the clock is wrong.
	_, err := d.Dial(ctx, dpv1.DialConfig{URL: url, TLS: tlsCfg, BuildTime: now.Add(72 * time.Hour)})
	var ce *dpv1.ClockError
	if !errors.As(err, &ce) || !errors.Is(err, dpv1.ErrDial) {
		t.Fatalf("got %v, want a ClockError", err)
	}
	if ce.Detail() != contract.DetailClock {
		t.Fatalf("detail %q, want %q", ce.Detail(), contract.DetailClock)
	}
	msg := err.Error()
	if !strings.Contains(msg, "the system clock is wrong (") || !strings.Contains(msg, "); waiting for time sync") {
		t.Fatalf("message %q does not say the clock is wrong", msg)
	}
	if strings.Contains(strings.ToLower(msg), "network") {
		t.Fatalf("message %q points at the network", msg)
	}

	// After the build date the kiosk cannot know whose clock is wrong: no
	// clock detail, but still not a network fault.
	_, err = d.Dial(ctx, dpv1.DialConfig{URL: url, TLS: tlsCfg, BuildTime: now.Add(-time.Hour)})
	if !errors.As(err, &ce) || ce.Detail() != contract.NoDetail || !strings.Contains(err.Error(), "certificate is not valid yet") {
		t.Fatalf("got %v (detail %q)", err, ce.Detail())
	}

	// The same clock moved past the certificate's start (tls.Config.Time,
	// as after time sync): the handshake verifies, no clock error.
	synced := tlsCfg.Clone()
	synced.Time = func() time.Time { return now.Add(49 * time.Hour) }
	_, err = d.Dial(ctx, dpv1.DialConfig{URL: url, TLS: synced, BuildTime: now.Add(72 * time.Hour)})
	if errors.As(err, &ce) {
		t.Fatalf("a synchronised clock still gives %v", err)
	}
}

func TestCallWithAWrongClockIsServerConnectionFailedWithTheClockDetail(t *testing.T) {
	now := time.Now()
	url, tlsCfg := futureTLSServer(t, now.Add(48*time.Hour))
	d, err := dpv1.New(dpv1.Config{URL: url, TLS: tlsCfg, BuildTime: now.Add(72 * time.Hour),
		Client: dpwire.ClientInfo{Name: "dpv1-test"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	call, _ := start(t, ctx, d)
	<-call.Done()
	res := call.Result()
	if res.Err == nil || res.Err.Name != contract.ServerConnectionFailed {
		t.Fatalf("result %+v, want serverConnectionFailed (the eight names stay eight)", res)
	}
	if contract.DetailOf(res.Err) != contract.DetailClock || !errors.Is(res.Err, contract.NewConnectErrorDetail(contract.ServerConnectionFailed, contract.DetailClock, nil)) {
		t.Fatalf("detail %q of %v", contract.DetailOf(res.Err), res.Err)
	}
}
