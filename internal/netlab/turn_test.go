package netlab_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/netlab"
)

// The lab's addresses: the kiosk's namespace and the Digital Person's
// (dpsim and coturn), one veth between them.
const (
	kioskAddr = "10.77.0.1"
	dpAddr    = "10.77.0.2"
	turnRealm = "netlab"
)

// TestTURNWithUDPBlocked is issue 15's "UDP blocked" scenario: the
// kiosk's network lets no UDP through, so the only way to the Digital
// Person is a TURN server (a real coturn) reached over TCP or TLS. The
// real kioskd reaches Connected against the real dpsim through it, logs
// the selected pair as relayed over that transport, and dpsim receives
// the kiosk's video. One more row lets UDP through to coturn's port only
// (relay forced): TURN over UDP, the relay a kiosk behind a strict
// firewall with a TURN server of its own uses.
func TestTURNWithUDPBlocked(t *testing.T) {
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("no turnserver (apt-get install coturn; scripts/install-deps.sh installs it)")
	}
	bins := buildBinaries(t)
	for _, sc := range []scenario{
		{name: "udp-blocked turn/tcp", url: "turn:" + dpAddr + ":3478?transport=tcp", policy: "all", wantPair: "relay/tcp -> "},
		{name: "udp-blocked turns/tls relay-only", url: "turns:" + dpAddr + ":5349?transport=tcp", policy: "relay", wantPair: "relay/tls -> "},
		{name: "udp-blocked turn/tcp from dpsim", url: "turn:" + dpAddr + ":3478?transport=tcp", policy: "relay", fromServer: true, wantPair: "relay/tcp -> "},
		// UDP allowed to coturn's port only: TURN over UDP, relay forced.
		{name: "udp-only-to-turn turn/udp relay-only", url: "turn:" + dpAddr + ":3478", policy: "relay", udpToTURN: true, wantPair: "relay/udp -> "},
	} {
		t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) { runTURN(t, bins, sc) })
	}
}

type scenario struct {
	name, url, policy string
	fromServer        bool // the server hands the TURN server (ice_servers), not the config
	udpToTURN         bool // UDP blocked but to coturn's 3478 (else blocked entirely)
	wantPair          string
}

type binaries struct{ kioskd, dpsim string }

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
)

// buildBinaries builds kioskd and dpsim once per test binary: they run as
// real processes inside the namespaces.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	if netlab.Skip() != "" {
		t.Skip(netlab.Skip())
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "netlab-bin-")
		if err != nil {
			buildErr = err
			return
		}
		built = binaries{kioskd: filepath.Join(dir, "kioskd"), dpsim: filepath.Join(dir, "dpsim")}
		for bin, pkg := range map[string]string{built.kioskd: "../../cmd/kioskd", built.dpsim: "../../cmd/dpsim"} {
			if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func runTURN(t *testing.T, bins binaries, sc scenario) {
	dir := t.TempDir()
	lab := netlab.New(t)
	kiosk, dp := lab.Namespace("kiosk"), lab.Namespace("dp")
	kioskIf, _ := lab.Link(kiosk, kioskAddr+"/24", dp, dpAddr+"/24")
	if sc.udpToTURN {
		kiosk.BlockUDPExcept(kioskIf, dpAddr, 3478)
	} else {
		kiosk.BlockUDP(kioskIf)
	}

	ca := writeCerts(t, dir, dpAddr)
	secret := "netlab-turn-secret-" + randomHex(t)
	startCoturn(t, dp, dir, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, port := range []string{"3478", "5349"} {
		if err := kiosk.WaitTCP(ctx, net.JoinHostPort(dpAddr, port)); err != nil {
			t.Fatalf("coturn: %v\n%s", err, readFile(dir, "turn.log"))
		}
	}

	dpArgs := []string{"--listen", dpAddr + ":8765", "--admin", "127.0.0.1:8766", "--log-format", "json"}
	if sc.fromServer {
		dpArgs = append(dpArgs, "--turn-url", sc.url, "--turn-secret-file", writeFile(t, dir, "turn-secret", secret))
	}
	dpLog := startProcess(t, dp, filepath.Join(dir, "dpsim.log"), nil, bins.dpsim, dpArgs...)
	if err := kiosk.WaitTCP(ctx, dpAddr+":8765"); err != nil {
		t.Fatalf("dpsim: %v\n%s", err, dpLog())
	}

	ice := ""
	if !sc.fromServer {
		user, cred := restCredential(secret, "kiosk", time.Hour)
		ice = fmt.Sprintf("  ice_servers:\n    - urls: [%q]\n      username: %q\n      credential: %q\n", sc.url, user, cred)
	}
	cfgPath := labKioskConfig(t, dir, dpAddr, fmt.Sprintf("  ice_transport_policy: %s\n%s", sc.policy, ice), false, false)
	// turns: is verified against the system's CAs, which Go reads from
	// SSL_CERT_FILE when set: the lab's CA stands in for them, as an
	// integrator's private CA would be installed into /etc/ssl/certs.
	env := []string{"SSL_CERT_FILE=" + ca}
	start := time.Now()
	lines := make(chan map[string]any, 256)
	kLog := startProcessLines(t, kiosk, filepath.Join(dir, "kioskd.log"), env, lines, bins.kioskd, "run", "--config", cfgPath, "--log-format", "json")

	deadline := time.After(30 * time.Second)
	var pair string
	for pair == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kioskd exited before Connected\n%s", kLog())
			}
			if p, ok := l["ice_candidate_pair"].(string); ok {
				pair = p
			}
		case <-deadline:
			result(t, sc, "FAIL", 0, "")
			t.Fatalf("not Connected within 30 s\nkioskd:\n%s\ndpsim:\n%s\ncoturn:\n%s", kLog(), dpLog(), readFile(dir, "turn.log"))
		}
	}
	took := time.Since(start)
	if !strings.HasPrefix(pair, sc.wantPair) {
		result(t, sc, "FAIL", took, pair)
		t.Fatalf("selected pair %q, want %q…", pair, sc.wantPair)
	}

	// dpsim receives the kiosk's video through the relay, and keeps
	// receiving it.
	first := videoFrames(t, dp)
	for n := first; n < first+10; n = videoFrames(t, dp) {
		select {
		case <-deadline:
			result(t, sc, "FAIL", took, pair)
			t.Fatalf("dpsim's video frames stuck at %d (from %d)\n%s", n, first, dpLog())
		case <-time.After(100 * time.Millisecond): // dpsim's stats are polled: it announces nothing
		}
	}
	result(t, sc, "PASS", took, pair)
}

// result prints the row make netlab collects into its table.
func result(t *testing.T, sc scenario, verdict string, took time.Duration, pair string) {
	t.Logf("NETLAB|%s|%s|%s|%s", sc.name, verdict, took.Round(10*time.Millisecond), pair)
}

// restCredential mints coturn's REST API credential (use-auth-secret):
// the username is "EXPIRY:ID", the password base64(HMAC-SHA1(secret, username)).
func restCredential(secret, id string, ttl time.Duration) (string, string) {
	user := fmt.Sprintf("%d:%s", time.Now().Add(ttl).Unix(), id)
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(user))
	return user, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func startCoturn(t *testing.T, ns *netlab.NS, dir, secret string) {
	t.Helper()
	conf := fmt.Sprintf(`listening-ip=%[1]s
relay-ip=%[1]s
listening-port=3478
tls-listening-port=5349
min-port=49152
max-port=49352
use-auth-secret
static-auth-secret=%[2]s
realm=%[3]s
fingerprint
cert=%[4]s
pkey=%[5]s
no-cli
no-dtls
log-file=%[6]s
simple-log
pidfile=%[7]s
`, dpAddr, secret, turnRealm, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"),
		filepath.Join(dir, "turn.log"), filepath.Join(dir, "turn.pid"))
	startProcess(t, ns, filepath.Join(dir, "turnserver.out"), nil, "turnserver", "-c", writeFile(t, dir, "turnserver.conf", conf))
}

// startProcess runs name in ns until the test ends, its output in
// logPath; the returned function reads that log.
func startProcess(t *testing.T, ns *netlab.NS, logPath string, env []string, name string, args ...string) func() string {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(cmd); f.Close() })
	return func() string { return readFile(filepath.Dir(logPath), filepath.Base(logPath)) }
}

// startProcessLines is startProcess for a JSON-logging process whose
// lines the test reads as they come (and keeps in logPath).
func startProcessLines(t *testing.T, ns *netlab.NS, logPath string, env []string, lines chan<- map[string]any, name string, args ...string) func() string {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(f, sc.Text())
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case lines <- m:
				default: // nobody reads any more
				}
			}
		}
	}()
	t.Cleanup(func() { stop(cmd); <-done; f.Close() })
	return func() string { return readFile(filepath.Dir(logPath), filepath.Base(logPath)) }
}

// stop ends a process started through ip netns exec (which execs it, so
// the pid is the process's own): SIGTERM, then SIGKILL after 5 s.
func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// videoFrames is the video frames dpsim received from its first session,
// read from its admin API on the DP namespace's loopback.
func videoFrames(t *testing.T, dp *netlab.NS) int64 {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: dp.DialContext}}
	resp, err := client.Get("http://127.0.0.1:8766/sessions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sessions []struct {
		Video struct {
			Frames int64 `json:"frames"`
		} `json:"video"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) == 0 {
		return 0
	}
	return sessions[0].Video.Frames
}

// writeCerts makes a CA and a certificate for ip signed by it (coturn's
// TLS listener) and returns the CA's PEM file.
func writeCerts(t *testing.T, dir, ip string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "netlab CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP(ip)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	writeFile(t, dir, "server.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, dir, "server.key", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
}

// labKioskConfig writes the config of a lab kioskd into dir and returns
// its path: dpsim at dpHost:8765 over ws://, the test camera and
// microphone, no speaker, state and status socket under dir. serverExtra
// is added under server: as it is (indented lines).
func labKioskConfig(t *testing.T, dir, dpHost, serverExtra string, resume, micRequired bool) string {
	t.Helper()
	return writeFile(t, dir, "kioskd.yaml", fmt.Sprintf(`server:
  url: ws://%s:8765/v1/session
  token_file: ""
  allow_insecure: true
%ssession:
  resume: %t
  state_dir: %s
  connect_timeout: 30s
  step_timeout: 20s
media:
  camera: test
  microphone: test
  microphone_required: %t
  speaker: none
status:
  socket: %s
  metrics_listen: %s
`, dpHost, serverExtra, resume, filepath.Join(dir, "state"), micRequired, filepath.Join(dir, "status.sock"), metricsAddr))
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}
