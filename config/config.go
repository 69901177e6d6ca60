// Package config loads and validates kioskd's YAML config file
// (docs/BEHAVIOUR.md section 13). Every problem in the file is reported with the file,
// the line and the dotted key, all of them at once, in file order, so an
// integrator can fix a config in one pass:
//
//	kioskd.yaml:7: session.reconect: unknown key (did you mean "reconnect"?)
//	kioskd.yaml:12: media.fps: must be between 1 and 60 (got 0)
//
// The server token is deliberately not part of Config: it comes from the
// environment or a file only when asked for (Token), so a Config can be
// printed, logged or compared without leaking it.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/kioskd/kioskd/dpwire"
)

const (
	// DefaultPath is where kioskd run looks without --config.
	DefaultPath = "/etc/kioskd/kioskd.yaml"
	// EnvToken names the environment variable that overrides the
	// credential and server.token_file (labs and tests: systemd.exec(5)
	// warns that the environment is not for secrets).
	EnvToken = "KIOSKD_TOKEN"
	// EnvCredentials is where systemd puts the service's credentials
	// (LoadCredential=, LoadCredentialEncrypted=).
	EnvCredentials = "CREDENTIALS_DIRECTORY"
	// ServiceGroup is the group the service runs as: a token file may be
	// readable by it (and by root), by no one else.
	ServiceGroup = "kioskd"
	// MaxFileSize caps the config file: a real one is a few KiB, so
	// anything this large is a wrong path or hostile, and is refused
	// before YAML sees it.
	MaxFileSize = 1 << 20
	// StateFileName is the session file inside session.state_dir.
	StateFileName = "session.json"

	maxTokenSize  = 64 << 10 // bigger is not a bearer token
	maxCAFileSize = 1 << 20
)

// Config is kioskd's whole configuration. Durations are time.Duration;
// in YAML they are written the Go way ("20s", "1m30s").
type Config struct {
	Server  Server  `yaml:"server"`
	Session Session `yaml:"session"`
	Media   Media   `yaml:"media"`
	LEDs    LEDs    `yaml:"leds"`
	Status  Status  `yaml:"status"`

	// src remembers where each key was in the file, so that Validate,
	// run again after Parse, still names lines. Nil for a Config built in code.
	src *source
}

// Server is the Digital Person server and how to reach it.
type Server struct {
	// URL of the signalling websocket, ws:// or wss://. Empty in Default:
	// there is no sensible default server, and kioskd run refuses to
	// start without one (ValidateForRun).
	URL string `yaml:"url"`
	// TokenCredential names the systemd credential holding the bearer
	// token (LoadCredential= or LoadCredentialEncrypted= in the unit, read
	// from $CREDENTIALS_DIRECTORY/<name>): the documented way to give the
	// token. When the service has no such credential, TokenFile is read.
	// Empty: never look for a credential.
	TokenCredential string `yaml:"token_credential"`
	// TokenFile holds the bearer token when no credential does;
	// KIOSKD_TOKEN overrides both. Empty means no token (labs whose
	// server does not check one).
	TokenFile string `yaml:"token_file"`
	// CAFile, if set, is the only CA trusted for the server (a private
	// PKI); empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// Heartbeat is the ping interval until the server names another.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// AllowInsecure lets a ws:// URL reach a host that is not loopback,
	// sending the token and the session in clear: for a lab only, and
	// logged as a warning at every start.
	AllowInsecure bool `yaml:"allow_insecure"`
	// Dialect is the signalling dialect (docs/BEHAVIOUR.md section 6):
	// DialectKioskd (kioskd.dp.v1) or DialectLiveKit (a LiveKit room,
	// docs/LIVEKIT.md). With livekit, URL is the LiveKit server's and the
	// token file holds a LiveKit access token (a JWT).
	Dialect string  `yaml:"dialect"`
	LiveKit LiveKit `yaml:"livekit"`
	// TokenEndpoint is a LiveKit standard token endpoint (https://…, or
	// http:// to loopback), dialect livekit only: per attempt kioskd asks
	// it for a room's server URL and access token, and the token file
	// holds the endpoint's bearer credential instead of a JWT. URL is
	// then optional (the endpoint's answer names the server).
	TokenEndpoint string `yaml:"token_endpoint"`
	// ICEServers are the STUN and TURN servers every call uses, besides
	// those the server hands out (docs/PROTOCOL.md section 4.11). Empty:
	// host candidates only, unless the server hands some.
	ICEServers []ICEServer `yaml:"ice_servers"`
	// ICETransportPolicy is ICEPolicyAll or ICEPolicyRelay (only relayed
	// candidates: every packet through a TURN server).
	ICETransportPolicy string `yaml:"ice_transport_policy"`
}

// ICEServer is one STUN or TURN server of server.ice_servers. A TURN
// server needs a username and either Credential or CredentialFile (the
// credential is a secret: never logged, never in an error).
type ICEServer struct {
	// URLs are stun:, stuns:, turn: or turns: URLs (dpwire.CheckICEURL).
	URLs     []string `yaml:"urls"`
	Username string   `yaml:"username"`
	// Credential is the TURN password in the file itself; CredentialFile
	// an absolute path to a file holding it (root:kioskd, 0640, like the
	// token). At most one of them.
	Credential     string `yaml:"credential"`
	CredentialFile string `yaml:"credential_file"`
}

// ICE transport policies (server.ice_transport_policy).
const (
	ICEPolicyAll   = "all"
	ICEPolicyRelay = "relay"
)

// Signalling dialects (server.dialect).
const (
	DialectKioskd  = "kioskd"
	DialectLiveKit = "livekit"
)

// LiveKit is how the livekit dialect joins a room (docs/LIVEKIT.md).
type LiveKit struct {
	// Room to join; "" means the access token's room, or kiosk-<hostname>-<random>
	// when the token names none. When the token names a room, Room must be
	// "" or equal to it.
	Room string `yaml:"room"`
	// Identity is the kiosk's participant identity; "": the hostname.
	Identity string `yaml:"identity"`
	// DPIdentity is the Digital Person's identity; "": the first agent
	// participant (kind AGENT, or publishing on an agent's behalf).
	DPIdentity string `yaml:"dp_identity"`
	// AgentName, with a token endpoint, asks it to dispatch the LiveKit
	// agent of that name to the room (the request's room_config.agents,
	// LiveKit's explicit agent dispatch); "": no room_config, the
	// endpoint decides. A static token carries its own room_config, so
	// with one the key is an error rather than silently ignored.
	AgentName string `yaml:"agent_name"`
	// DPSilence is how long the Digital Person's voice may bring no packet,
	// on a working media path, before the conversation is taken as ended
	// (a crashed DP the server keeps in the room for ~22 s); 0: not
	// watched, for a DP stack that sends nothing while it is quiet.
	DPSilence time.Duration `yaml:"dp_silence"`
}

// DefaultDPSilence is server.livekit.dp_silence's default, and
// MinDPSilence and MaxDPSilence its bounds: above the ICE disconnected
// timeout (3 s), so a broken path of the kiosk's own is a resume, never
// the DP's silence; below what a visitor would wait at a frozen face.
const (
	DefaultDPSilence = 5 * time.Second
	MinDPSilence     = 4 * time.Second
	MaxDPSilence     = 5 * time.Minute
)

// Session is how the session is kept and resumed.
type Session struct {
	Resume   bool   `yaml:"resume"`
	StateDir string `yaml:"state_dir"`
	// ConnectTimeout bounds a whole connect, from dial to Connected.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// StepTimeout bounds each connection step (docs/BEHAVIOUR.md section 5); a stuck step is
	// aborted as sessionTimeout.
	StepTimeout time.Duration `yaml:"step_timeout"`
	Reconnect   Reconnect     `yaml:"reconnect"`
}

// Reconnect is the backoff between connect attempts (docs/BEHAVIOUR.md section 2).
type Reconnect struct {
	InitialDelay time.Duration `yaml:"initial_delay"`
	MaxDelay     time.Duration `yaml:"max_delay"`
	// ResetAfter: a session that stayed Connected this long starts the
	// backoff again from InitialDelay.
	ResetAfter time.Duration `yaml:"reset_after"`
}

// Media is the kiosk's camera, microphone and speaker (docs/BEHAVIOUR.md section 7).
type Media struct {
	// Camera is auto, none, test, a /dev/... path or a V4L2 card name.
	Camera         string `yaml:"camera"`
	CameraRequired bool   `yaml:"camera_required"`
	Width          int    `yaml:"width"`
	Height         int    `yaml:"height"`
	FPS            int    `yaml:"fps"`
	// Microphone is default, none, test or an ALSA PCM name.
	Microphone         string `yaml:"microphone"`
	MicrophoneRequired bool   `yaml:"microphone_required"`
	// Speaker is default, none or an ALSA PCM name.
	Speaker          string `yaml:"speaker"`
	EchoCancellation bool   `yaml:"echo_cancellation"`
	NoiseSuppression bool   `yaml:"noise_suppression"`
	// MicrophonePace releases captured audio no faster than real time:
	// for ALSA `file`/`null` PCMs (labs, tests), which deliver samples as
	// fast as they are read. Real sound cards pace themselves.
	MicrophonePace bool `yaml:"microphone_pace"`
	AutoGain       bool `yaml:"auto_gain"`
}

// LEDs are the status LEDs for on-site staff (docs/BEHAVIOUR.md section 8).
type LEDs struct {
	Backend string `yaml:"backend"` // gpio | ledclass | console | none
	Profile string `yaml:"profile"` // traffic | bar
	// Lines maps each LED of the profile (red/amber/green, or
	// step1..step4) to a GPIO line name (gpio) or an LED name under
	// LEDClassRoot (ledclass). A lines mapping in the file replaces the
	// default one as a whole, so a bar profile does not inherit red/amber/green.
	Lines        map[string]string `yaml:"lines"`
	ActiveLow    bool              `yaml:"active_low"`
	LEDClassRoot string            `yaml:"ledclass_root"`
}

// Status is how kioskd reports on itself locally.
type Status struct {
	// Socket is the unix socket kioskd status talks to.
	Socket string `yaml:"socket"`
	// MetricsListen, if set, serves Prometheus metrics: on a loopback
	// address, or on any other only with MetricsWebConfig.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsWebConfig is an exporter-toolkit web config file (TLS, basic
	// auth), the format every Prometheus exporter reads; "" serves plain
	// HTTP, which only a loopback MetricsListen may.
	MetricsWebConfig string `yaml:"metrics_web_config"`
}

// LED backends (leds.backend) and profiles (leds.profile). These names,
// and the LED names of each profile (ProfileLines), are written here only:
// package leds takes the section and uses them.
const (
	BackendGPIO     = "gpio"
	BackendLEDClass = "ledclass"
	BackendConsole  = "console"
	BackendNone     = "none"

	ProfileTraffic = "traffic"
	ProfileBar     = "bar"

	// LEDTalk is the optional LED of either profile that shows what the
	// Digital Person is doing in the conversation (steady while it
	// listens to the visitor, blinking while it thinks, off while it
	// speaks or when it publishes nothing): driven when leds.lines names
	// it.
	LEDTalk = "talk"
)

// ProfileLines returns the LED names a profile needs in leds.lines, in
// display order (package leds drives them in this order), or nil for an
// unknown profile.
func ProfileLines(profile string) []string {
	switch profile {
	case ProfileTraffic:
		return []string{"red", "amber", "green"}
	case ProfileBar:
		return []string{"step1", "step2", "step3", "step4"}
	}
	return nil
}

// Roles returns the LEDs the section drives, in display order: the
// profile's (ProfileLines), then the optional talk LED when lines names it.
func (l LEDs) Roles() []string {
	r := ProfileLines(l.Profile)
	if _, ok := l.Lines[LEDTalk]; ok && r != nil {
		r = append(r, LEDTalk)
	}
	return r
}

// Default returns a Config with every default of docs/BEHAVIOUR.md section 13 filled
// in, except Server.URL, which is empty.
func Default() *Config {
	return &Config{
		Server: Server{
			TokenCredential:    "kioskd-token",
			TokenFile:          "/etc/kioskd/token",
			Heartbeat:          5 * time.Second,
			Dialect:            DialectKioskd,
			ICETransportPolicy: ICEPolicyAll,
			LiveKit:            LiveKit{DPSilence: DefaultDPSilence},
		},
		Session: Session{
			Resume:         true,
			StateDir:       "/var/lib/kioskd",
			ConnectTimeout: 60 * time.Second,
			StepTimeout:    20 * time.Second,
			Reconnect: Reconnect{
				InitialDelay: 1 * time.Second,
				MaxDelay:     30 * time.Second,
				ResetAfter:   30 * time.Second,
			},
		},
		Media: Media{
			Camera:             "auto",
			Width:              640,
			Height:             480,
			FPS:                15,
			Microphone:         "default",
			MicrophoneRequired: true,
			Speaker:            "default",
			EchoCancellation:   true,
		},
		LEDs: LEDs{
			Backend:      BackendNone,
			Profile:      ProfileTraffic,
			Lines:        map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22"},
			LEDClassRoot: "/sys/class/leds",
		},
		Status: Status{
			Socket: "/run/kioskd/status.sock",
		},
	}
}

// Load reads the config file at path and the drop-ins of its drop-in
// directory (DropInDir: path + ".d"), and merges them (see Merge). A file
// that cannot be read gives the *fs.PathError, which is not ErrInvalid; a
// missing drop-in directory is no drop-ins.
func Load(path string) (*Config, error) {
	names, err := DropIns(path)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, 1+len(names))
	for _, name := range append([]string{path}, names...) {
		data, err := readCapped(name, MaxFileSize)
		if errors.Is(err, errTooBig) {
			return nil, tooLarge(name)
		}
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		files = append(files, File{Name: name, Data: data})
	}
	return Merge(files...)
}

// Parse builds a Config from the YAML in data: the defaults, then the
// file on top, then Validate. filename only names the file in errors.
// Empty data (or only comments) gives the defaults. On error the Config is
// nil and the error joins every problem found, each a *KeyError.
func Parse(data []byte, filename string) (*Config, error) {
	return Merge(File{Name: filename, Data: data})
}

// File is one config file's name and content, for Merge.
type File struct {
	Name string
	Data []byte
}

// Merge builds a Config from the defaults and each file on top of the one
// before, then validates it. Each file is decoded as strictly as a lone
// file is (unknown keys, wrong types and duplicate keys within the file are
// errors, each naming its file and line); across files, a key set in a later
// file overrides the same key set earlier. Sections merge key by key: a
// drop-in that sets only server.url leaves the rest of the server section as
// the files before it left it. A map (leds.lines, Config's only map; it has
// no list) is one value: a later file that sets it replaces it whole, so a
// bar profile set in a drop-in does not inherit red, amber and green. Every
// problem of every file is reported, main file first, then the drop-ins in
// order, each by line.
func Merge(files ...File) (*Config, error) {
	c := Default()
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	c.src = newSource(names...)
	errs := &errorList{}
	for i, f := range files {
		if len(f.Data) > MaxFileSize {
			return nil, tooLarge(f.Name)
		}
		c.src.cur, errs.file, errs.order = i, f.Name, i
		data, err := toUTF8(f.Data)
		if err != nil {
			errs.errs = append(errs.errs, &KeyError{File: f.Name, order: i, Msg: err.Error()})
			continue
		}
		decodeFile(data, c, errs)
	}
	errs.decoded = len(errs.errs)
	errs.file, errs.order = c.src.main(), 0
	c.validate(errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// MaxDropIns bounds the drop-in directory: a kiosk has a few (site,
// hardware, LEDs), so hundreds are a wrong directory.
const MaxDropIns = 64

// DropInDir is the drop-in directory of the config file at path:
// /etc/kioskd/kioskd.yaml.d for /etc/kioskd/kioskd.yaml. The shipped file
// (a dpkg conffile) is never edited; a kiosk's own settings go here, so an
// upgrade that changes the shipped file installs without a question.
func DropInDir(path string) string { return path + ".d" }

// ExampleDropIn is the drop-in the docs and messages suggest for a kiosk's
// own settings (server.url and the like).
func ExampleDropIn(path string) string {
	if path == "" {
		path = DefaultPath
	}
	return filepath.Join(DropInDir(path), "50-site.yaml")
}

// DropIns lists the drop-ins of the config file at path: the files in
// DropInDir(path) whose names end in ".yaml" and do not start with a dot
// (editors' and dpkg's leftovers such as .x.swp or x.yaml.dpkg-old are not
// read), in lexical (byte) order, the order they are merged in. A missing
// directory has none.
func DropIns(path string) ([]string, error) {
	dir := DropInDir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: drop-in directory: %w", err)
	}
	var names []string
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		full := filepath.Join(dir, name)
		if fi, err := os.Stat(full); err == nil && fi.IsDir() {
			return nil, &KeyError{File: full, Msg: "is a directory; a drop-in is a file", cause: ErrDropIns}
		}
		names = append(names, full)
	}
	if len(names) > MaxDropIns {
		return nil, &KeyError{File: dir, Msg: fmt.Sprintf("holds %d drop-ins, more than the %d kioskd reads; is this the right directory?", len(names), MaxDropIns), cause: ErrDropIns}
	}
	return names, nil
}

func tooLarge(file string) error {
	return &KeyError{File: file, Msg: fmt.Sprintf("file is larger than %d KiB; is this the right file?", MaxFileSize>>10), cause: ErrTooLarge}
}

// StateFile is the path of the persisted session (docs/BEHAVIOUR.md section 4).
func (c *Config) StateFile() string {
	return filepath.Join(c.Session.StateDir, StateFileName)
}

// Token returns the server's bearer token (see LoadToken).
func (c *Config) Token() (string, error) {
	t, err := c.LoadToken()
	return t.Token, err
}

// TokenInfo is a token and where it came from.
type TokenInfo struct {
	Token string
	// Source says where it was read, for logs and check-config: never
	// the token. "" when there is no token.
	Source string
	// Warning, if not "", is a problem to tell the operator about once:
	// a token file readable by others than root and the service.
	Warning string
}

// LoadToken reads the server's bearer token, from the first of:
//
//  1. KIOSKD_TOKEN, if set and not blank (labs, tests);
//  2. the systemd credential server.token_credential, if the service has
//     one by that name ($CREDENTIALS_DIRECTORY/<name>);
//  3. server.token_file;
//
// and is "" (no token) when token_file is empty too. The token is trimmed
// of surrounding white space. Errors name the variable, credential or
// file, never the token.
func (c *Config) LoadToken() (TokenInfo, error) {
	if t := strings.TrimSpace(os.Getenv(EnvToken)); t != "" {
		if err := checkToken(t); err != nil {
			return TokenInfo{}, fmt.Errorf("%w: %s %v", ErrBadToken, EnvToken, err)
		}
		return TokenInfo{Token: t, Source: "the environment variable " + EnvToken}, nil
	}
	if name, dir := c.Server.TokenCredential, os.Getenv(EnvCredentials); name != "" && dir != "" {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err == nil {
			t, err := readToken(path, "systemd credential "+name)
			if err != nil {
				return TokenInfo{}, err
			}
			return TokenInfo{Token: t, Source: "systemd credential " + name}, nil
		}
	}
	path := c.Server.TokenFile
	if path == "" {
		return TokenInfo{}, nil
	}
	t, err := readToken(path, "server.token_file "+path)
	if err != nil {
		return TokenInfo{}, err
	}
	info := TokenInfo{Token: t, Source: "server.token_file " + path}
	if fi, err := os.Stat(path); err == nil {
		info.Warning = tokenFileWarning(path, fi, serviceIDs())
	}
	return info, nil
}

// readToken reads the token in path; what names it in errors.
func readToken(path, what string) (string, error) {
	data, err := readCapped(path, maxTokenSize)
	switch {
	case errors.Is(err, errTooBig):
		return "", fmt.Errorf("%w: %s is larger than %d KiB", ErrNoToken, what, maxTokenSize>>10)
	case err != nil:
		// The PathError's own text repeats the path; keep just its reason,
		// but keep it wrapped so fs.ErrNotExist and fs.ErrPermission match.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("%w: %s: %w (give the token as the systemd credential %s, or set server.token_file; see kioskd(8))", ErrNoToken, what, err, Default().Server.TokenCredential)
	}
	t := strings.TrimSpace(string(data))
	if t == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNoToken, what)
	}
	if err := checkToken(t); err != nil {
		return "", fmt.Errorf("%w: %s %v", ErrBadToken, what, err)
	}
	return t, nil
}

// checkToken refuses what cannot be sent as "Authorization: Bearer <t>":
// a control character would be refused by the HTTP client (or worse, split
// the header), and a space means the file holds more than a token. The
// message never includes the token.
func checkToken(t string) error {
	if len(t) < MinTokenLength {
		return fmt.Errorf("is %d characters long, shorter than the %d of any real secret", len(t), MinTokenLength)
	}
	for i := 0; i < len(t); i++ {
		if b := t[i]; b <= ' ' || b >= 0x7f {
			return errors.New("holds characters a bearer token cannot have (spaces, control or non-ASCII characters)")
		}
	}
	return nil
}

// PublicURL returns u without what may carry a secret (user info, query,
// fragment): the form of a URL that may be logged, stored or put in an
// error. A u that does not parse gives "" (it cannot be shown safely).
func PublicURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p.User, p.RawQuery, p.ForceQuery, p.Fragment, p.RawFragment = nil, "", false, "", ""
	return p.String()
}

// TLSConfig returns the TLS settings for a wss:// server: with an empty
// server.ca_file the system roots, otherwise only the CAs in that file
// (a private PKI should not also trust every public CA).
func (c *Config) TLSConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	path := c.Server.CAFile
	if path == "" {
		return tc, nil
	}
	data, err := readCapped(path, maxCAFileSize)
	switch {
	case errors.Is(err, errTooBig):
		return nil, fmt.Errorf("%w: %s is larger than %d KiB", ErrCAFile, path, maxCAFileSize>>10)
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrCAFile, path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrCAFile, path)
	}
	tc.RootCAs = pool
	return tc, nil
}

// ResolvedICEServers returns server.ice_servers with every
// credential_file read into Credential (trimmed). Errors name the entry
// and the file, never the credential.
func (c *Config) ResolvedICEServers() ([]ICEServer, error) {
	out := make([]ICEServer, 0, len(c.Server.ICEServers))
	for i, s := range c.Server.ICEServers {
		s.URLs = slices.Clone(s.URLs)
		if s.CredentialFile != "" {
			key := fmt.Sprintf("server.ice_servers[%d].credential_file", i)
			data, err := readCapped(s.CredentialFile, maxTokenSize)
			switch {
			case errors.Is(err, errTooBig):
				return nil, fmt.Errorf("%w: %s %s is larger than %d KiB", ErrICECredential, key, s.CredentialFile, maxTokenSize>>10)
			case err != nil:
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				return nil, fmt.Errorf("%w: %s %s: %w", ErrICECredential, key, s.CredentialFile, err)
			}
			s.Credential = strings.TrimSpace(string(data))
			if err := (dpwire.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}).Check(); err != nil {
				return nil, fmt.Errorf("%w: %s %s: %w", ErrICECredential, key, s.CredentialFile, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

var errTooBig = errors.New("file too large")

// readCapped reads at most limit bytes of a file, so a wrong path
// (/dev/zero, a log file) cannot exhaust memory.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, errTooBig
	}
	return data, nil
}

// Same reports whether c and o configure the same kiosk: every value
// equal, wherever in the file it was written.
func (c *Config) Same(o *Config) bool {
	a, b := *c, *o
	a.src, b.src = nil, nil
	return reflect.DeepEqual(a, b)
}
