package status

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// The metrics endpoint reads the web config file of Prometheus exporters
// (prometheus/exporter-toolkit's format: tls_server_config,
// basic_auth_users, http_server_config), a subset of it, with crypto/tls
// and bcrypt. The toolkit itself is not linked: its web package brings
// html/template, whose reflection keeps every exported method of the
// binary alive, and with its other imports it made kioskd 5.5 MB (23 %)
// larger. A key of the format kioskd does not implement is refused by
// name, never ignored: nobody must believe a setting protects the
// metrics when it does not. The tests check every file kioskd accepts
// against the toolkit's own validation.

// webKeys are the keys kioskd implements, by section ("" is the top level).
var webKeys = map[string][]string{
	"":                   {"tls_server_config", "http_server_config", "basic_auth_users"},
	"tls_server_config":  {"cert_file", "key_file", "cert", "key", "client_ca_file", "client_auth_type", "min_version", "max_version"},
	"http_server_config": {"http2"},
}

var clientAuthTypes = map[string]tls.ClientAuthType{
	"":                           tls.NoClientCert,
	"NoClientCert":               tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"RequireClientCert":          tls.RequireAnyClientCert, // the toolkit's older name
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

var tlsVersions = map[string]uint16{"TLS10": tls.VersionTLS10, "TLS11": tls.VersionTLS11, "TLS12": tls.VersionTLS12, "TLS13": tls.VersionTLS13}

// webConfig is a loaded web config file.
type webConfig struct {
	path                     string
	certFile, keyFile        string // absolute, or relative to the file's folder
	cert, key                string // inline PEM
	clientCAFile, clientAuth string
	minVersion, maxVersion   uint16
	http2                    bool
	users                    map[string]string // user → bcrypt hash
}

func (c *webConfig) tlsOn() bool {
	return c.certFile != "" || c.cert != "" || c.keyFile != "" || c.key != ""
}
func (c *webConfig) authOn() bool { return len(c.users) > 0 }

// loadWebConfig reads and checks the file at path: known keys only, TLS
// with both a certificate and a key that load, bcrypt hashes. Its errors
// name the file and the key, never a hash or a key's content.
func loadWebConfig(path string) (*webConfig, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrWebConfig, path, fmt.Sprintf(format, args...))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWebConfig, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fail("not YAML")
	}
	c := &webConfig{path: path, minVersion: tls.VersionTLS12, maxVersion: tls.VersionTLS13, http2: true}
	if len(root.Content) == 0 {
		return c, nil // an empty file: plain HTTP, no auth
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fail("want a mapping")
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if !slices.Contains(webKeys[""], k.Value) {
			return nil, unsupported(path, k.Value, "")
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue
		}
		if v.Kind != yaml.MappingNode {
			return nil, fail("line %d: %s: want a mapping", v.Line, k.Value)
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			sk, sv := v.Content[j], v.Content[j+1]
			if k.Value == "basic_auth_users" {
				if sv.Kind != yaml.ScalarNode || sv.Value == "" {
					return nil, fail("line %d: basic_auth_users.%s: want a bcrypt hash", sv.Line, sk.Value)
				}
				if _, err := bcrypt.Cost([]byte(sv.Value)); err != nil {
					return nil, fail("line %d: basic_auth_users.%s: not a bcrypt hash (make one with htpasswd -nBC 10 \"\")", sv.Line, sk.Value)
				}
				if c.users == nil {
					c.users = map[string]string{}
				}
				c.users[sk.Value] = sv.Value
				continue
			}
			if !slices.Contains(webKeys[k.Value], sk.Value) {
				return nil, unsupported(path, k.Value+"."+sk.Value, k.Value)
			}
			if sv.Kind != yaml.ScalarNode {
				return nil, fail("line %d: %s.%s: want a value", sv.Line, k.Value, sk.Value)
			}
			if err := c.set(k.Value+"."+sk.Value, sv.Value); err != nil {
				return nil, fail("line %d: %s.%s: %v", sv.Line, k.Value, sk.Value, err)
			}
		}
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&c.certFile, &c.keyFile, &c.clientCAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p) // as the toolkit does
		}
	}
	if c.tlsOn() {
		if _, err := c.tlsConfig(); err != nil {
			return nil, fail("%v", err)
		}
	} else if c.clientAuth != "" || c.clientCAFile != "" {
		return nil, fail("tls_server_config: a client certificate setting without cert_file and key_file")
	}
	return c, nil
}

// unsupported is the error of a key kioskd does not implement.
func unsupported(path, key, section string) error {
	return fmt.Errorf("%w: %s: %s is not supported by kioskd, which reads only %s of the exporter web config format",
		ErrWebConfig, path, key, strings.Join(qualified(section), ", "))
}

func qualified(section string) []string {
	var out []string
	for _, k := range webKeys[section] {
		if section != "" {
			k = section + "." + k
		}
		out = append(out, k)
	}
	return out
}

func (c *webConfig) set(key, val string) error {
	switch key {
	case "tls_server_config.cert_file":
		c.certFile = val
	case "tls_server_config.key_file":
		c.keyFile = val
	case "tls_server_config.cert":
		c.cert = val
	case "tls_server_config.key":
		c.key = val
	case "tls_server_config.client_ca_file":
		c.clientCAFile = val
	case "tls_server_config.client_auth_type":
		if _, ok := clientAuthTypes[val]; !ok {
			return fmt.Errorf("unknown client_auth_type %q", val)
		}
		c.clientAuth = val
	case "tls_server_config.min_version", "tls_server_config.max_version":
		v, ok := tlsVersions[val]
		if !ok {
			return fmt.Errorf("unknown TLS version %q (TLS10 … TLS13)", val)
		}
		if strings.HasSuffix(key, "min_version") {
			c.minVersion = v
		} else {
			c.maxVersion = v
		}
	case "http_server_config.http2":
		switch val {
		case "true":
			c.http2 = true
		case "false":
			c.http2 = false
		default:
			return fmt.Errorf("want true or false")
		}
	}
	return nil
}

// tlsConfig loads the certificate, key and client CAs.
func (c *webConfig) tlsConfig() (*tls.Config, error) {
	if (c.certFile == "") == (c.cert == "") || (c.keyFile == "") == (c.key == "") {
		return nil, errors.New("tls_server_config: want one of cert_file or cert, and one of key_file or key")
	}
	certPEM, keyPEM := []byte(c.cert), []byte(c.key)
	var err error
	if c.certFile != "" {
		if certPEM, err = os.ReadFile(c.certFile); err != nil {
			return nil, fmt.Errorf("tls_server_config.cert_file: %v", err)
		}
	}
	if c.keyFile != "" {
		if keyPEM, err = os.ReadFile(c.keyFile); err != nil {
			return nil, fmt.Errorf("tls_server_config.key_file: %v", err)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, errors.New("tls_server_config: the certificate and key do not load as a pair")
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: c.minVersion, MaxVersion: c.maxVersion,
		ClientAuth: clientAuthTypes[c.clientAuth], NextProtos: []string{"http/1.1"}}
	if c.http2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if c.clientCAFile != "" {
		pem, err := os.ReadFile(c.clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_server_config.client_ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls_server_config.client_ca_file: no certificate in it")
		}
		cfg.ClientCAs = pool
		if cfg.ClientAuth == tls.NoClientCert {
			return nil, errors.New("tls_server_config: client_ca_file without a client_auth_type that asks for a certificate")
		}
	}
	return cfg, nil
}

// webServer applies a web config file to the metrics server: TLS and
// basic auth as the file says, read again at each new connection and each
// request (as the toolkit does), so a new password or certificate needs
// no restart. A file that has become unusable fails the handshake or
// answers 500, and is logged once until it is usable again.
type webServer struct {
	path string
	log  *slog.Logger
	next http.Handler

	bcryptMu sync.Mutex // one bcrypt comparison at a time: they are slow on purpose
	mu       sync.Mutex
	cache    map[[32]byte]bool // sha256(user, hash, password) → the password matched
	broken   bool              // the last load failed (logged once)
}

// maxAuthCache bounds the remembered comparisons; the cache starts over
// when full.
const maxAuthCache = 64

// dummyHash stands in for an unknown user's hash, so that a wrong user
// costs a comparison as a wrong password does (bcrypt, cost 10, of
// "kioskd: no such user"; computed once, not at every start).
var dummyHash = []byte("$2a$10$Ta2/r.tijahMRN/R8NBdYeMWBYOLGS03JsEFtWs9P9pkYvJNGaK8i")

func (w *webServer) load() (*webConfig, error) {
	c, err := loadWebConfig(w.path)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err != nil && !w.broken:
		w.broken = true
		w.log.Error("metrics web config unusable; scrapes fail until it is fixed", "error", err)
	case err == nil && w.broken:
		w.broken = false
		w.log.Info("metrics web config usable again", "path", w.path)
	}
	return c, err
}

// getConfigForClient is the TLS configuration of each new connection.
func (w *webServer) getConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	c, err := w.load()
	if err != nil {
		return nil, err
	}
	if !c.tlsOn() {
		return nil, errors.New("status: metrics web config no longer has TLS")
	}
	return c.tlsConfig()
}

// ServeHTTP checks basic auth, then serves next.
func (w *webServer) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	c, err := w.load()
	if err != nil {
		http.Error(rw, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if c.authOn() && !w.authorized(c, r) {
		rw.Header().Set("WWW-Authenticate", `Basic realm="kioskd metrics"`)
		http.Error(rw, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
		return
	}
	w.next.ServeHTTP(rw, r)
}

func (w *webServer) authorized(c *webConfig, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	hash, known := c.users[user]
	h := []byte(hash)
	if !known {
		h = dummyHash
	}
	key := sha256.Sum256(bytes.Join([][]byte{[]byte(user), h, []byte(pass)}, []byte{0}))
	w.mu.Lock()
	match, cached := w.cache[key]
	w.mu.Unlock()
	if !cached {
		w.bcryptMu.Lock()
		match = bcrypt.CompareHashAndPassword(h, []byte(pass)) == nil
		w.bcryptMu.Unlock()
		w.mu.Lock()
		if w.cache == nil || len(w.cache) >= maxAuthCache {
			w.cache = map[[32]byte]bool{}
		}
		w.cache[key] = match
		w.mu.Unlock()
	}
	return subtle.ConstantTimeEq(boolInt(match && known), 1) == 1
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}
