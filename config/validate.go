package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kioskd/kioskd/dpwire"
)

// Limits of what kioskd can do with media; values outside are typos or
// impossible for a kiosk camera and VP8 in real time.
const (
	MinWidth, MaxWidth   = 16, 3840
	MinHeight, MaxHeight = 16, 2160
	MinFPS, MaxFPS       = 1, 60

	// The kiosk's own ping interval (until the server names one) keeps
	// to the range a server may name (docs/PROTOCOL.md section 4.2).
	MinHeartbeat = dpwire.MinHeartbeat
	MaxHeartbeat = dpwire.MaxHeartbeat

	// MinTokenLength: a shorter token is guessable, and redacting every
	// occurrence of a short string from the logs would corrupt them.
	MinTokenLength = 16

	// MaxSocketPath is the room in sockaddr_un.sun_path (108 bytes with
	// the terminating NUL on Linux); a longer path cannot be bound.
	MaxSocketPath = 107
)

// Validate checks values that decode fine but cannot work: out-of-range
// numbers, unknown enum values, relative paths, a non-loopback metrics
// address. It does no I/O (files are read by Token and TLSConfig), so
// check-config works on a machine other than the kiosk. An empty
// server.url is valid here; see ValidateForRun. All problems are joined,
// each a *KeyError (ErrInvalid), with lines if the Config came from Parse.
func (c *Config) Validate() error {
	errs := &errorList{file: c.src.main()}
	c.validate(errs)
	return errs.err()
}

// ValidateForRun is Validate plus what kioskd run needs on top: a server
// URL. (The demo brings its own server; check-config uses this too, as it
// checks a file meant for run.)
func (c *Config) ValidateForRun() error {
	errs := &errorList{file: c.src.main()}
	c.validate(errs)
	if c.Server.URL == "" && (c.Server.TokenEndpoint == "" || c.Server.Dialect != DialectLiveKit) {
		if e := errs.addAt(c.src, []string{"server.url", "server"}, "server.url",
			"required: the wss:// address of the Digital Person server (set it in a drop-in such as %s)", ExampleDropIn(c.src.main())); e != nil {
			e.cause = ErrNoURL
		}
	}
	return errs.err()
}

// Validate checks the leds section alone, with the messages of
// Config.Validate (without file and line). Package leds calls it: a
// section that cannot work is refused there in the same words as in
// check-config.
func (l LEDs) Validate() error {
	errs := &errorList{}
	v := &validator{c: &Config{LEDs: l}, errs: errs}
	v.leds()
	return errs.err()
}

// validator adds problems at a key, located by the first of the given
// keys found in the file (the key itself, then what it depends on, then
// its section), unless decoding already reported that key.
type validator struct {
	c    *Config
	errs *errorList
}

func (v *validator) fail(key string, at []string, format string, args ...any) {
	if v.errs.full() {
		v.errs.dropped++
		return
	}
	if v.errs.covers(key) {
		return
	}
	v.errs.addAt(v.c.src, append([]string{key}, at...), key, format, args...)
}

func (c *Config) validate(errs *errorList) {
	v := &validator{c: c, errs: errs}
	v.server()
	v.session()
	v.media()
	v.leds()
	v.status()
}

func (v *validator) server() {
	s := v.c.Server
	if s.URL != "" {
		if msg := checkURL(s.URL); msg != "" {
			v.fail("server.url", nil, "%s", msg)
		} else if insecure(s.URL) && !s.AllowInsecure {
			v.fail("server.url", nil, "ws:// to a host that is not loopback would send the token and the session unencrypted; use wss:// (or, for a lab only, set server.allow_insecure: true)")
		}
	}
	if s.TokenFile != "" && !filepath.IsAbs(s.TokenFile) {
		// Not echoed: a token pasted here by mistake must not reach a log.
		v.fail("server.token_file", nil, "must be an absolute path to a file holding the token (the token itself never goes in the config)")
	}
	if msg := checkCredentialName(s.TokenCredential); msg != "" {
		v.fail("server.token_credential", nil, "%s", msg)
	}
	if s.CAFile != "" && !filepath.IsAbs(s.CAFile) {
		v.fail("server.ca_file", nil, "must be an absolute path") // not echoed: next to token_file, a pasted token lands here too
	}
	if s.Heartbeat < MinHeartbeat || s.Heartbeat > MaxHeartbeat {
		v.fail("server.heartbeat", nil, "must be between %v and %v (got %v)", MinHeartbeat, MaxHeartbeat, s.Heartbeat)
	}
	switch s.Dialect {
	case DialectKioskd:
		for _, k := range []struct{ key, val string }{
			{"server.livekit.room", s.LiveKit.Room},
			{"server.livekit.identity", s.LiveKit.Identity},
			{"server.livekit.dp_identity", s.LiveKit.DPIdentity},
			{"server.livekit.agent_name", s.LiveKit.AgentName},
		} {
			if k.val != "" {
				v.fail(k.key, nil, "is only used with server.dialect: %s", DialectLiveKit)
			}
		}
		if s.TokenEndpoint != "" {
			v.fail("server.token_endpoint", nil, "is only used with server.dialect: %s", DialectLiveKit)
		}
		if s.LiveKit.DPSilence != DefaultDPSilence {
			v.fail("server.livekit.dp_silence", nil, "is only used with server.dialect: %s", DialectLiveKit)
		}
	case DialectLiveKit:
		if d := s.LiveKit.DPSilence; d != 0 && (d < MinDPSilence || d > MaxDPSilence) {
			v.fail("server.livekit.dp_silence", nil, "must be 0s (not watched) or between %v and %v (got %v)", MinDPSilence, MaxDPSilence, d)
		}
		if s.TokenEndpoint != "" {
			if msg := CheckEndpointURL(s.TokenEndpoint); msg != "" {
				v.fail("server.token_endpoint", nil, "%s", msg)
			} else if InsecureHTTP(s.TokenEndpoint) && !s.AllowInsecure {
				v.fail("server.token_endpoint", nil, "http:// to a host that is not loopback would send the credential and the token unencrypted; use https:// (or, for a lab only, set server.allow_insecure: true)")
			}
		}
		for _, k := range []struct{ key, val string }{
			{"server.livekit.room", s.LiveKit.Room},
			{"server.livekit.identity", s.LiveKit.Identity},
			{"server.livekit.dp_identity", s.LiveKit.DPIdentity},
			{"server.livekit.agent_name", s.LiveKit.AgentName},
		} {
			if msg := checkLiveKitName(k.val); msg != "" {
				v.fail(k.key, nil, "%s", msg)
			}
		}
		if s.LiveKit.AgentName != "" && s.TokenEndpoint == "" {
			v.fail("server.livekit.agent_name", nil, "is only used with server.token_endpoint (a static access token carries its own agent dispatch in its room configuration)")
		}
	default:
		v.fail("server.dialect", nil, "must be %s or %s (got %s)", DialectKioskd, DialectLiveKit, quote(s.Dialect))
	}
	v.ice()
}

// ice checks server.ice_servers and server.ice_transport_policy with the
// rules and limits the protocol puts on a server's ice_servers
// (dpwire.ICEServer.Check), so a URL is refused in the same words
// wherever it comes from. Credentials are never echoed.
func (v *validator) ice() {
	s := v.c.Server
	switch s.ICETransportPolicy {
	case ICEPolicyAll, ICEPolicyRelay:
	default:
		v.fail("server.ice_transport_policy", nil, "must be %s or %s (got %s)", ICEPolicyAll, ICEPolicyRelay, quote(s.ICETransportPolicy))
	}
	if len(s.ICEServers) > 0 && s.Dialect == DialectLiveKit {
		v.fail("server.ice_servers", nil, "is only used with server.dialect: %s (a LiveKit server hands its own)", DialectKioskd)
	}
	if len(s.ICEServers) > dpwire.MaxICEServers {
		v.fail("server.ice_servers", nil, "at most %d servers (got %d)", dpwire.MaxICEServers, len(s.ICEServers))
		return
	}
	for i, is := range s.ICEServers {
		key := fmt.Sprintf("server.ice_servers[%d]", i)
		at := []string{key, "server.ice_servers"}
		if is.Credential != "" && is.CredentialFile != "" {
			v.fail(key+".credential_file", at, "credential and credential_file are exclusive: keep one")
			continue
		}
		if is.CredentialFile != "" && !filepath.IsAbs(is.CredentialFile) {
			v.fail(key+".credential_file", at, "must be an absolute path to a file holding the credential")
			continue
		}
		cred := is.Credential
		if is.CredentialFile != "" {
			cred = "(read at start)" // stands in for the file's content, checked when read
		}
		if len(is.URLs) == 0 {
			v.fail(key+".urls", at, "required: one or more stun:, stuns:, turn: or turns: URLs")
			continue
		}
		err := dpwire.ICEServer{URLs: is.URLs, Username: is.Username, Credential: cred}.Check()
		var turn bool
		for _, u := range is.URLs {
			turn = turn || dpwire.IsTURN(u)
		}
		switch {
		case err != nil:
			v.fail(key, at, "%v", err)
		case !turn && (is.Username != "" || cred != ""):
			v.fail(key, at, "username and credential are for turn: and turns: URLs; a STUN server takes none")
		}
	}
}

// checkCredentialName: a systemd credential name is a file name in
// $CREDENTIALS_DIRECTORY ("" is fine: no credential). Not echoed, as it
// sits next to token_file.
func checkCredentialName(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) > 255 || s == "." || s == ".." || strings.ContainsRune(s, '/'):
		return "must be a credential name as in LoadCredential=NAME:PATH, not a path (like kioskd-token)"
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }):
		return "must be a credential name of printable ASCII without spaces (like kioskd-token)"
	}
	return ""
}

// MaxLiveKitName bounds room and identity names: LiveKit takes any
// string, but a kiosk's are short and printable, so anything else is a
// typo (or a pasted secret).
const MaxLiveKitName = 128

// checkLiveKitName returns what is wrong with a room or identity name
// ("" is fine: the default). Letters, digits and . _ - only, so a name
// is safe in a log line, a file name and a URL.
func checkLiveKitName(s string) string {
	if len(s) > MaxLiveKitName {
		return fmt.Sprintf("must be at most %d characters (got %d)", MaxLiveKitName, len(s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "may hold only letters, digits, '.', '_' and '-'"
		}
	}
	return ""
}

// checkURL returns what is wrong with a server URL, or "". The URL itself
// is never in the message: it may carry credentials or a token in its query.
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) && !strings.Contains(ue.Err.Error(), raw) {
			return "not a valid URL: " + ue.Err.Error()
		}
		return "not a valid URL"
	}
	switch {
	case u.Scheme != "ws" && u.Scheme != "wss":
		if u.Scheme == "" {
			return "must start with wss:// (or ws:// for a lab)"
		}
		return fmt.Sprintf("scheme must be wss (or ws for a lab), got %s", quote(u.Scheme))
	case u.Opaque != "" || u.Host == "":
		return "has no host; write it as wss://host[:port]/path"
	case u.User != nil:
		return "must not carry credentials (user:password@); use server.token_file or " + EnvToken
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return "must not have a #fragment (websocket URLs cannot)"
	case u.Hostname() == "":
		return "has no host name"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port must be between 1 and 65535 (got %s)", quote(p))
		}
	}
	return ""
}

func (v *validator) session() {
	s := v.c.Session
	if s.StateDir == "" || !filepath.IsAbs(s.StateDir) {
		v.fail("session.state_dir", nil, "must be an absolute path (got %s)", quote(s.StateDir))
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"session.connect_timeout", s.ConnectTimeout},
		{"session.step_timeout", s.StepTimeout},
		{"session.reconnect.initial_delay", s.Reconnect.InitialDelay},
		{"session.reconnect.max_delay", s.Reconnect.MaxDelay},
		{"session.reconnect.reset_after", s.Reconnect.ResetAfter},
	}
	for _, p := range positive {
		if p.d <= 0 {
			v.fail(p.key, nil, "must be more than 0 (got %v)", p.d)
		}
	}
	if r := s.Reconnect; r.InitialDelay > 0 && r.MaxDelay > 0 && r.InitialDelay > r.MaxDelay {
		// Named at whichever of the two the file set; both if it set both.
		v.fail("session.reconnect.initial_delay", []string{"session.reconnect.max_delay", "session.reconnect", "session"},
			"must not be more than max_delay (%v > %v)", r.InitialDelay, r.MaxDelay)
	}
}

func (v *validator) media() {
	m := v.c.Media
	if msg := checkCamera(m.Camera); msg != "" {
		v.fail("media.camera", nil, "%s", msg)
	} else if m.Camera == "none" && m.CameraRequired {
		v.fail("media.camera", []string{"media.camera_required"}, "is none but camera_required is true; set one of them")
	}
	v.rangeCheck("media.width", m.Width, MinWidth, MaxWidth, true)
	v.rangeCheck("media.height", m.Height, MinHeight, MaxHeight, true)
	v.rangeCheck("media.fps", m.FPS, MinFPS, MaxFPS, false)

	if msg := checkName(m.Microphone); msg != "" {
		v.fail("media.microphone", nil, "%s", msg)
	} else if m.Microphone == "none" && m.MicrophoneRequired {
		// microphone_required defaults to true, so this is the usual way
		// to get here: say which key to add.
		v.fail("media.microphone", []string{"media.microphone_required"}, "is none but microphone_required is true; set microphone_required: false")
	}
	if msg := checkName(m.Speaker); msg != "" {
		v.fail("media.speaker", nil, "%s", msg)
	}
}

func (v *validator) rangeCheck(key string, got, lo, hi int, even bool) {
	switch {
	case got < lo || got > hi:
		v.fail(key, nil, "must be between %d and %d (got %d)", lo, hi, got)
	case even && got%2 != 0:
		v.fail(key, nil, "must be even, as 4:2:0 video needs (got %d)", got)
	}
}

// checkCamera: auto | none | test | /dev/... | a V4L2 card name.
func checkCamera(s string) string {
	if msg := checkName(s); msg != "" {
		return msg
	}
	if strings.HasPrefix(s, "/") {
		clean := filepath.Clean(s)
		if clean != s || !strings.HasPrefix(clean, "/dev/") {
			return fmt.Sprintf("a camera path must be a device under /dev/, like /dev/v4l/by-id/... (got %s)", quote(s))
		}
	}
	return ""
}

// checkName is for device names: not empty, printable.
func checkName(s string) string {
	if s == "" {
		return "must not be empty (use none to go without)"
	}
	if strings.TrimSpace(s) != s {
		return fmt.Sprintf("has spaces at the start or end (got %s)", quote(s))
	}
	if strings.ContainsFunc(s, notPrintable) {
		return fmt.Sprintf("has control characters (got %s)", quote(s))
	}
	return ""
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }

func (v *validator) leds() {
	l := v.c.LEDs
	backendOK := slices.Contains([]string{BackendGPIO, BackendLEDClass, BackendConsole, BackendNone}, l.Backend)
	if !backendOK {
		v.fail("leds.backend", nil, "must be gpio, ledclass, console or none (got %s)", quote(l.Backend))
	}
	want := ProfileLines(l.Profile)
	if want == nil {
		v.fail("leds.profile", nil, "must be traffic or bar (got %s)", quote(l.Profile))
	}
	if l.LEDClassRoot == "" || !filepath.IsAbs(l.LEDClassRoot) {
		v.fail("leds.ledclass_root", nil, "must be an absolute path (got %s)", quote(l.LEDClassRoot))
	}
	if want == nil || (l.Backend != BackendGPIO && l.Backend != BackendLEDClass) {
		return // console and none drive no lines
	}
	at := []string{"leds.profile", "leds.backend", "leds"}
	var missing []string
	for _, name := range want {
		if _, ok := l.Lines[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		v.fail("leds.lines", at, "missing %s for profile %s with backend %s", strings.Join(missing, ", "), l.Profile, l.Backend)
	}
	// Report extra names and bad values in file order, via sorted keys
	// (the line sort of the error list puts them in file order).
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range l.Lines {
			if !yield(k) {
				return
			}
		}
	})
	usedBy := map[string]string{}
	for _, name := range names {
		key := "leds.lines." + keyName(name)
		at := []string{"leds.lines", "leds.profile", "leds"}
		if !slices.Contains(want, name) && name != LEDTalk {
			// Not for the default lines under a profile chosen in the
			// file: the integrator did not write them, "missing" says it all.
			if v.c.src == nil || v.c.src.has("leds.lines") {
				v.fail(key, at, "not an LED of profile %s (it has %s, and the optional %s)", l.Profile, strings.Join(want, ", "), LEDTalk)
			}
			continue
		}
		val := l.Lines[name]
		if msg := checkLEDValue(l.Backend, val); msg != "" {
			v.fail(key, at, "%s", msg)
			continue
		}
		if other, dup := usedBy[val]; dup {
			v.fail(key, at, "same %s as %s (%s); each LED needs its own", lineWord(l.Backend), other, quote(val))
			continue
		}
		usedBy[val] = name
	}
}

func lineWord(backend string) string {
	if backend == BackendGPIO {
		return "GPIO line"
	}
	return "LED"
}

func checkLEDValue(backend, val string) string {
	if val == "" {
		if backend == BackendGPIO {
			return "must name a GPIO line (like GPIO17)"
		}
		return "must name an LED under ledclass_root (like led0)"
	}
	if strings.ContainsFunc(val, notPrintable) || strings.TrimSpace(val) != val {
		return fmt.Sprintf("has control characters or surrounding spaces (got %s)", quote(val))
	}
	// A ledclass value is joined under ledclass_root; a path would escape it.
	if backend == BackendLEDClass && (strings.ContainsRune(val, '/') || val == "." || val == "..") {
		return fmt.Sprintf("must be an LED name under ledclass_root, not a path (got %s)", quote(val))
	}
	return ""
}

func (v *validator) status() {
	s := v.c.Status
	switch {
	case s.Socket == "" || !filepath.IsAbs(s.Socket):
		v.fail("status.socket", nil, "must be an absolute path (got %s)", quote(s.Socket))
	case len(s.Socket) > MaxSocketPath:
		v.fail("status.socket", nil, "is %d bytes long; a unix socket path can have at most %d", len(s.Socket), MaxSocketPath)
	}
	if s.MetricsListen != "" {
		if msg := checkMetricsListen(s.MetricsListen, s.MetricsWebConfig != ""); msg != "" {
			v.fail("status.metrics_listen", nil, "%s", msg)
		}
	}
	if s.MetricsWebConfig != "" && !filepath.IsAbs(s.MetricsWebConfig) {
		v.fail("status.metrics_web_config", nil, "must be an absolute path (got %s)", quote(s.MetricsWebConfig))
	}
}

// checkMetricsListen wants host:port, with a loopback host unless a web
// config file (TLS and basic auth) protects it: metrics name the kiosk's
// sessions and state, and must not reach the network in clear or to
// anyone who asks. What the web config file holds is checked where it is
// read (status.CheckWebConfig, by check-config and run).
func checkMetricsListen(addr string, webConfig bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("want a host:port like 127.0.0.1:9120 (got %s)", quote(addr))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port must be between 1 and 65535 (got %s)", quote(port))
	}
	if host == "localhost" || webConfig {
		return ""
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Sprintf("%s is not a loopback address: metrics expose the kiosk's state, so beyond this machine they are served only with TLS and basic auth; "+
			"set status.metrics_web_config to a web config file that has both (README, \"Metrics\"), or listen on 127.0.0.1:9120", quote(addr))
	}
	return ""
}

// Warnings are things that work but are probably not meant, for run and
// check-config to print (run logs them at every start). Like errors, they
// name file, line and key.
func (c *Config) Warnings() []string {
	var w []string
	if insecure(c.Server.URL) && c.Server.AllowInsecure {
		l := &errorList{}
		l.addAt(c.src, []string{"server.url"}, "server.url",
			"INSECURE: ws:// to a host that is not loopback sends the token and the session unencrypted (server.allow_insecure: true); use wss://")
		w = append(w, l.errs[0].Error())
	}
	if c.Server.Dialect == DialectLiveKit && InsecureHTTP(c.Server.TokenEndpoint) && c.Server.AllowInsecure {
		l := &errorList{}
		l.addAt(c.src, []string{"server.token_endpoint"}, "server.token_endpoint",
			"INSECURE: http:// to a host that is not loopback sends the credential and the token unencrypted (server.allow_insecure: true); use https://")
		w = append(w, l.errs[0].Error())
	}
	return w
}

// CheckEndpointURL returns what is wrong with a token endpoint URL, or
// "": https:// (http:// for a lab), a host, no user info, no fragment.
// The URL is never in the message (it may carry a key in its query).
func CheckEndpointURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "not a valid URL"
	case u.Scheme != "https" && u.Scheme != "http":
		if u.Scheme == "" {
			return "must start with https:// (or http:// to loopback)"
		}
		return fmt.Sprintf("scheme must be https (or http for a lab), got %s", quote(u.Scheme))
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "has no host; write it as https://host[:port]/path"
	case u.User != nil:
		return "must not carry credentials (user:password@); the bearer credential is in server.token_file or " + EnvToken
	case u.Fragment != "" || strings.HasSuffix(raw, "#"):
		return "must not have a #fragment"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port must be between 1 and 65535 (got %s)", quote(p))
		}
	}
	return ""
}

// InsecureHTTP says whether raw is http:// (or ws://) to a host that is
// not loopback: the credential would cross a network in clear.
func InsecureHTTP(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "ws") {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback())
}

// insecure reports a ws:// URL to a host other than loopback.
func insecure(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "ws" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback())
}
