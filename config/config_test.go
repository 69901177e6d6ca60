package config

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

const exampleConfig = "../configs/kioskd.yaml"

// problems splits an error from Parse/Validate into its KeyErrors,
// checking on the way that each is one and matches ErrInvalid.
func problems(t *testing.T, err error) []*KeyError {
	t.Helper()
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error does not match ErrInvalid: %v", err)
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	var out []*KeyError
	for _, e := range list {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Fatalf("not a *KeyError: %T %v", e, e)
		}
		if !errors.Is(e, ErrInvalid) {
			t.Errorf("KeyError does not match ErrInvalid: %v", e)
		}
		out = append(out, ke)
	}
	return out
}

func messages(t *testing.T, err error) []string {
	t.Helper()
	var out []string
	for _, e := range problems(t, err) {
		out = append(out, e.Error())
	}
	return out
}

func TestDefault(t *testing.T) {
	c := Default()
	want := &Config{
		Server: Server{URL: "", TokenCredential: "kioskd-token", TokenFile: "/etc/kioskd/token", CAFile: "", Heartbeat: 5 * time.Second, Dialect: "kioskd", ICETransportPolicy: "all",
			LiveKit: LiveKit{DPSilence: 5 * time.Second}},
		Session: Session{Resume: true, StateDir: "/var/lib/kioskd", ConnectTimeout: 60 * time.Second, StepTimeout: 20 * time.Second,
			Reconnect: Reconnect{InitialDelay: time.Second, MaxDelay: 30 * time.Second, ResetAfter: 30 * time.Second}},
		Media: Media{Camera: "auto", CameraRequired: false, Width: 640, Height: 480, FPS: 15,
			Microphone: "default", MicrophoneRequired: true, Speaker: "default",
			EchoCancellation: true, NoiseSuppression: false, AutoGain: false},
		LEDs: LEDs{Backend: "none", Profile: "traffic", Lines: map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22"},
			ActiveLow: false, LEDClassRoot: "/sys/class/leds"},
		Status: Status{Socket: "/run/kioskd/status.sock", MetricsListen: ""},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Default() = %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if err := c.ValidateForRun(); !errors.Is(err, ErrNoURL) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("ValidateForRun on defaults = %v, want ErrNoURL and ErrInvalid", err)
	}
	if got := c.StateFile(); got != "/var/lib/kioskd/session.json" {
		t.Errorf("StateFile() = %q", got)
	}
	// Each call is independent: changing one must not change the next.
	c.LEDs.Lines["red"] = "X"
	if Default().LEDs.Lines["red"] != "GPIO17" {
		t.Fatal("Default shares its Lines map between calls")
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	for name, data := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n\n# still nothing\n",
		"document mark": "---\n",
		"null sections": "server:\nsession:\nmedia:\nleds:\nstatus:\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(data), "kioskd.yaml")
			if err != nil {
				t.Fatal(err)
			}
			c.src = nil
			if !reflect.DeepEqual(c, Default()) {
				t.Fatalf("got %+v, want the defaults", c)
			}
		})
	}
}

// The documented example must parse and be exactly the defaults plus the
// example URL, so the documentation cannot drift from the code.
func TestExampleConfigIsDefaults(t *testing.T) {
	c, err := Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateForRun(); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.URL = "wss://dp.example.com/v1/session"
	c.src = nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("example config = %+v\nwant defaults %+v", c, want)
	}
}

// Every key of the schema appears in the example, so integrators see them all.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	c, err := Load(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range schemaKeys("", reflect.TypeFor[Config]()) {
		if !c.src.has(key) {
			t.Errorf("configs/kioskd.yaml does not document %s", key)
		}
	}
}

func schemaKeys(path string, t reflect.Type) []string {
	var keys []string
	for name, i := range fieldsOf(t) {
		key := joinKey(path, name)
		keys = append(keys, key)
		if ft := t.Field(i).Type; ft.Kind() == reflect.Struct && ft != durationType {
			keys = append(keys, schemaKeys(key, ft)...)
		}
	}
	slices.Sort(keys)
	return keys
}

// The decoder panics on a field kind it cannot decode; make sure adding
// such a field fails here and not on a kiosk.
func TestSchemaKinds(t *testing.T) {
	var check func(path string, typ reflect.Type)
	check = func(path string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			key := joinKey(path, f.Tag.Get("yaml"))
			if f.Tag.Get("yaml") == "" {
				t.Errorf("%s.%s has no yaml tag", path, f.Name)
			}
			switch {
			case f.Type == durationType:
			case f.Type.Kind() == reflect.Struct:
				check(key, f.Type)
			case f.Type == reflect.TypeFor[map[string]string]():
			case f.Type == reflect.TypeFor[[]string]():
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				check(key+"[]", f.Type.Elem())
			case slices.Contains([]reflect.Kind{reflect.Bool, reflect.Int, reflect.String}, f.Type.Kind()):
			default:
				t.Errorf("%s has type %s, which the decoder does not handle", key, f.Type)
			}
		}
	}
	check("", reflect.TypeFor[Config]())
}

func TestTestdataConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata configs: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ValidateForRun(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	c, err := Load("testdata/gpio-bar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.LEDs.Backend != "gpio" || c.LEDs.Profile != "bar" || !c.LEDs.ActiveLow {
		t.Errorf("leds = %+v", c.LEDs)
	}
	wantLines := map[string]string{"step1": "GPIO5", "step2": "GPIO6", "step3": "GPIO13", "step4": "GPIO19"}
	if !reflect.DeepEqual(c.LEDs.Lines, wantLines) {
		t.Errorf("lines = %v, want %v (a lines mapping replaces the default one)", c.LEDs.Lines, wantLines)
	}
	if c.Session.Reconnect.MaxDelay != 90*time.Second || c.Session.StepTimeout != 1500*time.Millisecond {
		t.Errorf("session = %+v", c.Session)
	}
	if c.Media.Camera != "/dev/v4l/by-id/usb-046d_0825-video-index0" || c.Media.Width != 1280 || c.Media.Height != 720 {
		t.Errorf("media = %+v", c.Media)
	}
	// Untouched keys keep their defaults.
	if c.Media.FPS != 15 || c.Server.Heartbeat != 5*time.Second || c.Status.Socket != "/run/kioskd/status.sock" {
		t.Errorf("defaults lost: %+v %+v", c.Media, c.Server)
	}
	// A numeric-looking PCM name is a string.
	c, err = Parse([]byte("media:\n  microphone: 0\n  speaker: 1.5\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Media.Microphone != "0" || c.Media.Speaker != "1.5" {
		t.Errorf("numeric names: %+v", c.Media)
	}
	// Anchors and aliases work where they make sense.
	c, err = Parse([]byte("session:\n  connect_timeout: &t 45s\n  step_timeout: *t\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Session.StepTimeout != 45*time.Second {
		t.Errorf("alias: step_timeout = %v", c.Session.StepTimeout)
	}
}

// Each class of error names the file, the line and the dotted key.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string // every problem, in order, as printed
	}{
		{"unknown key with suggestion",
			"session:\n  resume: true\n  reconect:\n    initial_delay: 1s\n",
			[]string{`kioskd.yaml:3: session.reconect: unknown key (did you mean "reconnect"?)`}},
		{"unknown key, transposed letters",
			"media:\n  fsp: 15\n",
			[]string{`kioskd.yaml:2: media.fsp: unknown key (did you mean "fps"?)`}},
		{"unknown key, wrong case",
			"Server:\n  url: wss://x\n",
			[]string{`kioskd.yaml:1: Server: unknown key (did you mean "server"?)`}},
		{"unknown key that belongs elsewhere",
			"session:\n  heartbeat: 5s\n",
			[]string{`kioskd.yaml:2: session.heartbeat: unknown key here (it belongs under server.heartbeat)`}},
		{"unknown key, nothing close",
			"media:\n  zoom: 2\n",
			[]string{`kioskd.yaml:2: media.zoom: unknown key`}},
		{"token in the config",
			"server:\n  token: hunter2\n",
			[]string{`kioskd.yaml:2: server.token: unknown key (the token is never written in the config: give it as the systemd credential named by server.token_credential, or in server.token_file)`}},
		{"odd key",
			"media:\n  \"we ird\": 1\n",
			[]string{`kioskd.yaml:2: media."we ird": unknown key`}},
		{"integer, got string",
			"media:\n  width: abc\n",
			[]string{`kioskd.yaml:2: media.width: want an integer, got "abc"`}},
		{"integer, got float",
			"media:\n  fps: 15.5\n",
			[]string{`kioskd.yaml:2: media.fps: want an integer, got 15.5`}},
		{"integer, got nothing",
			"media:\n  fps:\n",
			[]string{`kioskd.yaml:2: media.fps: want an integer, got nothing`}},
		{"integer out of range",
			"media:\n  fps: 18446744073709551615\n",
			[]string{`kioskd.yaml:2: media.fps: integer out of range (got 18446744073709551615)`}},
		{"integer, got list",
			"media:\n  fps: [15]\n",
			[]string{`kioskd.yaml:2: media.fps: want an integer, got a list`}},
		{"fps out of range",
			"media:\n  fps: 0\n",
			[]string{`kioskd.yaml:2: media.fps: must be between 1 and 60 (got 0)`}},
		{"width too large",
			"media:\n  width: 8000\n",
			[]string{`kioskd.yaml:2: media.width: must be between 16 and 3840 (got 8000)`}},
		{"height odd",
			"media:\n  height: 481\n",
			[]string{`kioskd.yaml:2: media.height: must be even, as 4:2:0 video needs (got 481)`}},
		{"bool, got yes",
			"session:\n  resume: yes\n",
			[]string{`kioskd.yaml:2: session.resume: want true or false, got "yes"`}},
		{"bool, got quoted",
			"media:\n  auto_gain: \"true\"\n",
			[]string{`kioskd.yaml:2: media.auto_gain: want true or false, got "true"`}},
		{"string, got bool",
			"media:\n  speaker: false\n",
			[]string{`kioskd.yaml:2: media.speaker: want a string, got false`}},
		{"string, got mapping",
			"server:\n  url: {a: b}\n",
			[]string{`kioskd.yaml:2: server.url: want a string, got a mapping`}},
		{"duration without unit",
			"session:\n  connect_timeout: 10\n",
			[]string{`kioskd.yaml:2: session.connect_timeout: want a duration with a unit like "30s" or "1m30s", got 10`}},
		{"duration garbage",
			"session:\n  step_timeout: soon\n",
			[]string{`kioskd.yaml:2: session.step_timeout: want a duration like "30s" or "1m30s", got "soon"`}},
		{"duration negative",
			"session:\n  reconnect:\n    initial_delay: -1s\n",
			[]string{`kioskd.yaml:3: session.reconnect.initial_delay: must be more than 0 (got -1s)`}},
		{"duration zero",
			"session:\n  reconnect: {reset_after: 0s}\n",
			[]string{`kioskd.yaml:2: session.reconnect.reset_after: must be more than 0 (got 0s)`}},
		{"heartbeat too short",
			"server:\n  heartbeat: 1ms\n",
			[]string{`kioskd.yaml:2: server.heartbeat: must be between 1s and 30s (got 1ms)`}},
		{"heartbeat too long",
			"server:\n  heartbeat: 1m\n",
			[]string{`kioskd.yaml:2: server.heartbeat: must be between 1s and 30s (got 1m0s)`}},
		{"initial delay above max delay",
			"session:\n  reconnect:\n    initial_delay: 1m\n    max_delay: 30s\n",
			[]string{`kioskd.yaml:3: session.reconnect.initial_delay: must not be more than max_delay (1m0s > 30s)`}},
		{"max delay below default initial delay",
			"session:\n  reconnect:\n    max_delay: 500ms\n",
			[]string{`kioskd.yaml:3: session.reconnect.initial_delay: must not be more than max_delay (1s > 500ms)`}},
		{"duplicate key",
			"media:\n  fps: 15\n  width: 640\n  fps: 30\n",
			[]string{`kioskd.yaml:4: media.fps: duplicate key (first at line 2)`}},
		{"duplicate section",
			"media: {}\nleds: {}\nmedia: {}\n",
			[]string{`kioskd.yaml:3: media: duplicate key (first at line 1)`}},
		{"section not a mapping",
			"server: [a, b]\n",
			[]string{`kioskd.yaml:1: server: want a mapping, got a list`}},
		{"top level a list",
			"- server\n- media\n",
			[]string{`kioskd.yaml:1: want a mapping of sections (server, session, media, leds, status), got a list`}},
		{"top level a string",
			"hello\n",
			[]string{`kioskd.yaml:1: want a mapping of sections (server, session, media, leds, status), got a string`}},
		{"server values are not echoed",
			"server:\n  heartbeat: often\n  url: [x]\n",
			[]string{
				`kioskd.yaml:2: server.heartbeat: want a duration like "30s" or "1m30s", got a string`,
				`kioskd.yaml:3: server.url: want a string, got a list`,
			}},
		// yaml.v3 itself names the line where the enclosing block or flow
		// began; these are the lines with the fault.
		{"syntax error, bad indentation",
			"server:\n  url: wss://x\n bad: indent\n",
			[]string{`kioskd.yaml:3: did not find expected key`}},
		{"syntax error, missing colon",
			"a: 1\nmedia:\n  fps: 15\n  width 640\n  x: 1\n",
			[]string{`kioskd.yaml:4: could not find expected ':'`}},
		{"syntax error, unclosed flow", // the line of the [ that was not closed (yaml.v3: line 2)
			"server: {}\nsession: {}\nmedia: [a, b\nleds: {}\n",
			[]string{`kioskd.yaml:3: did not find expected ',' or ']'`}},
		{"syntax error, list in mapping",
			"server: {}\nsession: {}\nmedia:\n  - x\n  y: 1\n",
			[]string{`kioskd.yaml:5: did not find expected '-' indicator`}},
		{"syntax error, unknown anchor",
			"server: {}\nsession: {}\nmedia:\n  fps: *rate\n",
			[]string{`kioskd.yaml:4: unknown anchor 'rate' referenced`}},
		{"syntax error, CR line endings",
			"server: {}\rsession: {}\rmedia:\r  fps: 15\r  width 640\r  x: 1\r",
			[]string{`kioskd.yaml:5: could not find expected ':'`}},
		{"syntax error, CRLF line endings",
			"server: {}\r\nsession: {}\r\nmedia:\r\n  fps: 15\r\n  width 640\r\n  x: 1\r\n",
			[]string{`kioskd.yaml:5: could not find expected ':'`}},
		{"key lines with CRLF",
			"server: {}\r\nsession: {}\r\nmedia:\r\n  fps: 0\r\n",
			[]string{`kioskd.yaml:4: media.fps: must be between 1 and 60 (got 0)`}},
		{"tab indentation",
			"media:\n\tfps: 15\n",
			[]string{`kioskd.yaml:2: found character that cannot start any token (YAML does not allow tabs for indentation)`}},
		{"control character",
			"media:\n  fps: 15\n  camera: \"a\x01\"\n",
			[]string{`kioskd.yaml:3: control characters are not allowed`}},
		{"invalid UTF-8",
			"media:\n  camera: \xff\n",
			[]string{`kioskd.yaml:2: invalid leading UTF-8 octet`}},
		{"two documents",
			"media: {fps: 15}\n---\nmedia: {fps: 30}\n",
			[]string{`kioskd.yaml:2: only one YAML document is allowed (found a second one)`}},
		{"anchor on an unknown key",
			"base: &b {fps: 15}\n",
			[]string{`kioskd.yaml:1: base: unknown key`}},
		{"merge key used",
			"media:\n  <<: {fps: 15}\n",
			[]string{`kioskd.yaml:2: media: merge keys (<<) are not supported; write the keys out`}},
		{"complex key",
			"media:\n  ? [a]\n  : 1\n",
			[]string{`kioskd.yaml:2: media: keys must be plain names, got a list`}},
		{"custom tag",
			"media:\n  camera: !cam x\n",
			[]string{`kioskd.yaml:2: media.camera: want a string, got a value tagged "!cam"`}},
		{"url scheme",
			"server:\n  url: https://dp.example.com/v1\n",
			[]string{`kioskd.yaml:2: server.url: scheme must be wss (or ws for a lab), got "https"`}},
		{"url without scheme",
			"server:\n  url: dp.example.com\n",
			[]string{`kioskd.yaml:2: server.url: must start with wss:// (or ws:// for a lab)`}},
		{"url without host",
			"server:\n  url: wss:///v1\n",
			[]string{`kioskd.yaml:2: server.url: has no host; write it as wss://host[:port]/path`}},
		{"url bad port",
			"server:\n  url: wss://dp.example.com:99999/v1\n",
			[]string{`kioskd.yaml:2: server.url: port must be between 1 and 65535 (got "99999")`}},
		{"url fragment",
			"server:\n  url: wss://dp.example.com/v1#x\n",
			[]string{`kioskd.yaml:2: server.url: must not have a #fragment (websocket URLs cannot)`}},
		{"token_file relative",
			"server:\n  token_file: token.txt\n",
			[]string{`kioskd.yaml:2: server.token_file: must be an absolute path to a file holding the token (the token itself never goes in the config)`}},
		{"ca_file relative",
			"server:\n  ca_file: ca.pem\n",
			[]string{`kioskd.yaml:2: server.ca_file: must be an absolute path`}},
		{"long unknown key is shortened",
			"media:\n  averyveryverylongkeyname_xyz: 1\n",
			[]string{`kioskd.yaml:2: media."averyver…"(28 bytes): unknown key`}},
		{"state_dir relative",
			"session:\n  state_dir: var/lib/kioskd\n",
			[]string{`kioskd.yaml:2: session.state_dir: must be an absolute path (got "var/lib/kioskd")`}},
		{"camera path outside /dev",
			"media:\n  camera: /home/pi/video0\n",
			[]string{`kioskd.yaml:2: media.camera: a camera path must be a device under /dev/, like /dev/v4l/by-id/... (got "/home/pi/video0")`}},
		{"camera path escaping /dev",
			"media:\n  camera: /dev/../etc/passwd\n",
			[]string{`kioskd.yaml:2: media.camera: a camera path must be a device under /dev/, like /dev/v4l/by-id/... (got "/dev/../etc/passwd")`}},
		{"camera empty",
			"media:\n  camera: \"\"\n",
			[]string{`kioskd.yaml:2: media.camera: must not be empty (use none to go without)`}},
		{"camera none but required",
			"media:\n  camera: none\n  camera_required: true\n",
			[]string{`kioskd.yaml:2: media.camera: is none but camera_required is true; set one of them`}},
		{"microphone none but required by default",
			"media:\n  microphone: none\n",
			[]string{`kioskd.yaml:2: media.microphone: is none but microphone_required is true; set microphone_required: false`}},
		{"microphone empty",
			"media:\n  microphone:\n",
			[]string{`kioskd.yaml:2: media.microphone: must not be empty (use none to go without)`}},
		{"speaker with spaces",
			"media:\n  speaker: \" hw:1\"\n",
			[]string{`kioskd.yaml:2: media.speaker: has spaces at the start or end (got " hw:1")`}},
		{"backend enum",
			"leds:\n  backend: neopixel\n",
			[]string{`kioskd.yaml:2: leds.backend: must be gpio, ledclass, console or none (got "neopixel")`}},
		{"profile enum",
			"leds:\n  profile: rainbow\n",
			[]string{`kioskd.yaml:2: leds.profile: must be traffic or bar (got "rainbow")`}},
		{"bar profile keeps traffic lines",
			"leds:\n  backend: gpio\n  profile: bar\n",
			[]string{`kioskd.yaml:3: leds.lines: missing step1, step2, step3, step4 for profile bar with backend gpio`}},
		{"lines missing and extra",
			"leds:\n  backend: gpio\n  lines:\n    red: GPIO17\n    amber: GPIO27\n    gren: GPIO22\n",
			[]string{
				`kioskd.yaml:3: leds.lines: missing green for profile traffic with backend gpio`,
				`kioskd.yaml:6: leds.lines.gren: not an LED of profile traffic (it has red, amber, green, and the optional talk)`,
			}},
		{"lines not checked for console",
			"leds:\n  backend: console\n  profile: bar\n",
			nil},
		{"lines same GPIO twice",
			"leds:\n  backend: gpio\n  lines: {red: GPIO17, amber: GPIO17, green: GPIO22}\n",
			[]string{`kioskd.yaml:3: leds.lines.red: same GPIO line as amber ("GPIO17"); each LED needs its own`}},
		{"lines empty value",
			"leds:\n  backend: gpio\n  lines:\n    red: GPIO17\n    amber:\n    green: GPIO22\n",
			[]string{`kioskd.yaml:5: leds.lines.amber: must name a GPIO line (like GPIO17)`}},
		{"lines not a mapping",
			"leds:\n  backend: gpio\n  lines: [GPIO17, GPIO27, GPIO22]\n",
			[]string{`kioskd.yaml:3: leds.lines: want a mapping, got a list`}},
		{"ledclass name is a path",
			"leds:\n  backend: ledclass\n  lines: {red: ../../etc, amber: led1, green: led2}\n",
			[]string{`kioskd.yaml:3: leds.lines.red: must be an LED name under ledclass_root, not a path (got "../../etc")`}},
		{"ledclass_root relative",
			"leds:\n  ledclass_root: leds\n",
			[]string{`kioskd.yaml:2: leds.ledclass_root: must be an absolute path (got "leds")`}},
		{"socket relative",
			"status:\n  socket: kioskd.sock\n",
			[]string{`kioskd.yaml:2: status.socket: must be an absolute path (got "kioskd.sock")`}},
		{"socket too long",
			"status:\n  socket: /" + strings.Repeat("s", 120) + "\n",
			[]string{`kioskd.yaml:2: status.socket: is 121 bytes long; a unix socket path can have at most 107`}},
		{"metrics on all interfaces",
			"status:\n  metrics_listen: 0.0.0.0:9120\n",
			[]string{`kioskd.yaml:2: status.metrics_listen: "0.0.0.0:9120" is not a loopback address: metrics expose the kiosk's state, so beyond this machine they are served only with TLS and basic auth; set status.metrics_web_config to a web config file that has both (README, "Metrics"), or listen on 127.0.0.1:9120`}},
		{"metrics web config relative",
			"status:\n  metrics_listen: 0.0.0.0:9120\n  metrics_web_config: web.yml\n",
			[]string{`kioskd.yaml:3: status.metrics_web_config: must be an absolute path (got "web.yml")`}},
		{"metrics without port",
			"status:\n  metrics_listen: 127.0.0.1\n",
			[]string{`kioskd.yaml:2: status.metrics_listen: want a host:port like 127.0.0.1:9120 (got "127.0.0.1")`}},
		{"metrics port zero",
			"status:\n  metrics_listen: \"[::1]:0\"\n",
			[]string{`kioskd.yaml:2: status.metrics_listen: port must be between 1 and 65535 (got "0")`}},
		{"type error is not repeated by validation",
			"leds:\n  backend: gpio\n  profile: bar\n  lines: nope\n",
			[]string{`kioskd.yaml:4: leds.lines: want a mapping, got "nope"`}},
		{"every problem, in file order",
			"server:\n  url: http://x\nsession:\n  reconect: {}\nmedia:\n  fps: 0\n  width: wide\nleds:\n  backend: gpio\n  profile: bar\n  lines: {step1: a, step2: b, step3: c, step4: d}\nstatus:\n  socket: rel\n",
			[]string{
				`kioskd.yaml:2: server.url: scheme must be wss (or ws for a lab), got "http"`,
				`kioskd.yaml:4: session.reconect: unknown key (did you mean "reconnect"?)`,
				`kioskd.yaml:6: media.fps: must be between 1 and 60 (got 0)`,
				`kioskd.yaml:7: media.width: want an integer, got "wide"`,
				`kioskd.yaml:13: status.socket: must be an absolute path (got "rel")`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "kioskd.yaml")
			got := messages(t, err)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if err != nil && c != nil {
				t.Fatal("Parse returned a Config with an error")
			}
			if err == nil && c == nil {
				t.Fatal("Parse returned neither")
			}
		})
	}
}

// Windows editors save "Unicode" as UTF-16 with a byte order mark; such a
// file works, and its errors have the lines the integrator sees.
func TestUTF16(t *testing.T) {
	text := "server:\r\n  url: wss://dp.example.com/v1\r\nmedia:\r\n  camera: \"Caméra 𝄞\"\r\n  fps: 0\r\n"
	type byteOrder interface {
		binary.ByteOrder
		binary.AppendByteOrder
	}
	for name, order := range map[string]byteOrder{"LE": binary.LittleEndian, "BE": binary.BigEndian} {
		t.Run(name, func(t *testing.T) {
			units := utf16.Encode([]rune("\ufeff" + text))
			data := make([]byte, 0, 2*len(units))
			for _, u := range units {
				data = order.AppendUint16(data, u)
			}
			_, err := Parse(data, "k.yaml")
			if got, want := messages(t, err), []string{"k.yaml:5: media.fps: must be between 1 and 60 (got 0)"}; !slices.Equal(got, want) {
				t.Fatalf("got %q, want %q", got, want)
			}
			fixed := bytes.Replace(data, order.AppendUint16(nil, '0'), order.AppendUint16(nil, '9'), 1)
			c, err := Parse(fixed, "k.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if c.Media.Camera != "Caméra 𝄞" || c.Media.FPS != 9 {
				t.Fatalf("media = %+v", c.Media)
			}
			// Broken UTF-16: an odd byte, an unpaired surrogate.
			for _, bad := range [][]byte{append(slices.Clone(data), 'x'), append(order.AppendUint16(data[:2:2], 0xd800), data[2:]...)} {
				if _, err := Parse(bad, "k.yaml"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "UTF-16") {
					t.Fatalf("broken UTF-16: got %v", err)
				}
			}
		})
	}
}

func TestKeyErrorFields(t *testing.T) {
	_, err := Parse([]byte("media:\n  fps: 0\n"), "/etc/kioskd/kioskd.yaml")
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("errors.As(*KeyError) failed on %v", err)
	}
	want := KeyError{File: "/etc/kioskd/kioskd.yaml", Line: 2, Key: "media.fps", Msg: "must be between 1 and 60 (got 0)"}
	if ke.File != want.File || ke.Line != want.Line || ke.Key != want.Key || ke.Msg != want.Msg {
		t.Fatalf("got %+v, want %+v", *ke, want)
	}
	for _, e := range []*KeyError{
		{File: "f.yaml", Line: 3, Key: "a.b", Msg: "m"},
		{File: "f.yaml", Key: "a.b", Msg: "m"},
		{Line: 3, Key: "a.b", Msg: "m"},
		{Key: "a.b", Msg: "m"},
		{File: "f.yaml", Line: 3, Msg: "m"},
	} {
		if !errors.Is(e, ErrInvalid) {
			t.Errorf("%v is not ErrInvalid", e)
		}
	}
	got := []string{
		(&KeyError{File: "f.yaml", Line: 3, Key: "a.b", Msg: "m"}).Error(),
		(&KeyError{File: "f.yaml", Key: "a.b", Msg: "m"}).Error(),
		(&KeyError{Line: 3, Key: "a.b", Msg: "m"}).Error(),
		(&KeyError{Key: "a.b", Msg: "m"}).Error(),
		(&KeyError{File: "f.yaml", Line: 3, Msg: "m"}).Error(),
	}
	want2 := []string{"f.yaml:3: a.b: m", "f.yaml: a.b: m", "line 3: a.b: m", "a.b: m", "f.yaml:3: m"}
	if !slices.Equal(got, want2) {
		t.Fatalf("got %q, want %q", got, want2)
	}
}

// Validate on a Config built in code has no lines; after Parse it keeps them.
func TestValidate(t *testing.T) {
	c := Default()
	c.Media.FPS = 0
	c.Session.StateDir = "relative"
	got := messages(t, c.Validate())
	want := []string{
		`session.state_dir: must be an absolute path (got "relative")`,
		`media.fps: must be between 1 and 60 (got 0)`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}

	c, err := Parse([]byte("media:\n  fps: 20\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Media.FPS = 99
	got = messages(t, c.Validate())
	if want := []string{"k.yaml:2: media.fps: must be between 1 and 60 (got 99)"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLEDsValidate: the leds section alone (what package leds checks when
// it is handed the section) gets the messages Config.Validate gives it,
// without file and line.
func TestLEDsValidate(t *testing.T) {
	traffic := map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22"}
	section := func(set func(*LEDs)) LEDs {
		l := Default().LEDs
		set(&l)
		return l
	}
	for _, tt := range []struct {
		cfg  LEDs
		want []string // nil: valid
	}{
		{Default().LEDs, nil},
		{section(func(l *LEDs) { l.Backend, l.Profile = BackendConsole, ProfileBar }), nil},
		{section(func(l *LEDs) { l.Backend, l.Lines = BackendGPIO, traffic }), nil},
		{section(func(l *LEDs) {
			l.Backend, l.Profile, l.Lines = BackendLEDClass, ProfileBar, map[string]string{"step1": "a", "step2": "b", "step3": "c", "step4": "d"}
		}), nil},
		// The optional talk LED, beside either profile's, needs a line of its own.
		{section(func(l *LEDs) {
			l.Backend, l.Lines = BackendGPIO, map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22", "talk": "GPIO5"}
		}), nil},
		{section(func(l *LEDs) {
			l.Backend, l.Lines = BackendGPIO, map[string]string{"red": "GPIO17", "amber": "GPIO27", "green": "GPIO22", "talk": "GPIO17"}
		}), []string{`leds.lines.talk: same GPIO line as red ("GPIO17"); each LED needs its own`}},
		{section(func(l *LEDs) { l.Backend = "neon" }), []string{`leds.backend: must be gpio, ledclass, console or none (got "neon")`}},
		{section(func(l *LEDs) { l.Profile = "disco" }), []string{`leds.profile: must be traffic or bar (got "disco")`}},
		{section(func(l *LEDs) { l.Backend, l.Profile, l.Lines = BackendGPIO, ProfileBar, traffic }), []string{
			`leds.lines: missing step1, step2, step3, step4 for profile bar with backend gpio`,
			`leds.lines.amber: not an LED of profile bar (it has step1, step2, step3, step4, and the optional talk)`,
			`leds.lines.green: not an LED of profile bar (it has step1, step2, step3, step4, and the optional talk)`,
			`leds.lines.red: not an LED of profile bar (it has step1, step2, step3, step4, and the optional talk)`,
		}},
		{section(func(l *LEDs) {
			l.Backend, l.Lines = BackendGPIO, map[string]string{"red": "GPIO17", "amber": "GPIO17", "green": " "}
		}), []string{
			`leds.lines.green: has control characters or surrounding spaces (got " ")`,
			`leds.lines.red: same GPIO line as amber ("GPIO17"); each LED needs its own`,
		}},
		{section(func(l *LEDs) { l.LEDClassRoot = "" }), []string{`leds.ledclass_root: must be an absolute path (got "")`}},
	} {
		err := tt.cfg.Validate()
		if tt.want == nil {
			if err != nil {
				t.Errorf("%+v: %v", tt.cfg, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v is not ErrInvalid", tt.cfg, err)
		}
		if got := messages(t, err); !slices.Equal(got, tt.want) {
			t.Errorf("%+v:\n got %q\nwant %q", tt.cfg, got, tt.want)
		}
	}
}

func TestValidateForRun(t *testing.T) {
	c, err := Parse([]byte("server:\n  token_file: /t\nmedia:\n  fps: 15\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = c.ValidateForRun()
	if !errors.Is(err, ErrNoURL) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrNoURL, got %v", err)
	}
	if want := "k.yaml:1: server.url: required: the wss:// address of the Digital Person server (set it in a drop-in such as k.yaml.d/50-site.yaml)"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	c.Server.URL = "ws://127.0.0.1:8080/v1/session"
	if err := c.ValidateForRun(); err != nil {
		t.Fatalf("ws on loopback must be accepted: %v", err)
	}
}

func TestURLs(t *testing.T) {
	for _, u := range []string{
		"wss://dp.example.com/v1/session",
		"WSS://DP.example.com/v1/session",
		"ws://127.0.0.1:8080/v1/session",
		"ws://[::1]:8080/",
		"wss://dp.example.com:443/v1/session?project=lobby",
		"ws://localhost/",
	} {
		c := Default()
		c.Server.URL = u
		if err := c.ValidateForRun(); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// ws:// to a host that is not loopback is refused unless
// server.allow_insecure says so, and then it is a warning (which run logs).
func TestInsecureURL(t *testing.T) {
	_, err := Parse([]byte("server:\n  url: ws://dp.example.com/v1\n"), "k.yaml")
	want := "k.yaml:2: server.url: ws:// to a host that is not loopback would send the token and the session unencrypted; use wss:// (or, for a lab only, set server.allow_insecure: true)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	c, err := Parse([]byte("server:\n  url: ws://dp.example.com/v1\n  allow_insecure: true\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantW := []string{"k.yaml:2: server.url: INSECURE: ws:// to a host that is not loopback sends the token and the session unencrypted (server.allow_insecure: true); use wss://"}
	if got := c.Warnings(); !slices.Equal(got, wantW) {
		t.Fatalf("got %q, want %q", got, wantW)
	}
	for _, u := range []string{"wss://dp.example.com/v1", "ws://127.0.0.1:9/", "ws://localhost:9/", "ws://[::1]:9/", ""} {
		for _, allow := range []bool{false, true} {
			c := Default()
			c.Server.URL = u
			c.Server.AllowInsecure = allow
			if err := c.Validate(); err != nil {
				t.Errorf("%q (allow_insecure %v): %v", u, allow, err)
			}
			if w := c.Warnings(); len(w) != 0 {
				t.Errorf("%q (allow_insecure %v): unexpected warnings %q", u, allow, w)
			}
		}
	}
}

func TestPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"wss://dp.example.com/v1/session":                           "wss://dp.example.com/v1/session",
		"wss://user:pw@dp.example.com:8443/v1?access_token=S3#frag": "wss://dp.example.com:8443/v1",
		"ws://127.0.0.1:9/x?":                                       "ws://127.0.0.1:9/x",
		"wss://dp.example.com/%zz":                                  "",
	} {
		if got := PublicURL(in); got != want {
			t.Errorf("PublicURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A hostile file with thousands of problems gives a bounded report.
func TestManyErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("media:\n")
	for i := range 5000 {
		b.WriteString("  k")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("y", i/26))
		b.WriteString(": 1\n")
	}
	_, err := Parse([]byte(b.String()), "k.yaml")
	ps := problems(t, err)
	if len(ps) != maxReported+1 {
		t.Fatalf("got %d problems, want %d plus a summary", len(ps), maxReported)
	}
	if last := ps[len(ps)-1].Error(); last != "k.yaml: too many errors (4980 more not shown)" {
		t.Fatalf("summary = %q", last)
	}
	if ps[0].Line != 2 {
		t.Fatalf("first problem at line %d, want 2", ps[0].Line)
	}
}

func TestTooLarge(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	for i := range big {
		big[i] = '#'
	}
	_, err := Parse(big, "big.yaml")
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse: want ErrTooLarge, got %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Load: want ErrTooLarge, got %v", err)
	}
	if want := path + ": file is larger than 1024 KiB; is this the right file?"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	// A device that never ends is refused, not read forever.
	if _, err := Load("/dev/zero"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("/dev/zero: want ErrTooLarge, got %v", err)
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
	if errors.Is(err, ErrInvalid) {
		t.Fatal("a missing file is not an invalid config")
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the file", err)
	}
	if _, err := Load(t.TempDir()); err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("directory: got %v", err)
	}
}

// yaml.v3 guards against alias bombs when decoding to values; kioskd walks
// nodes itself, so make sure a bomb (and a self-referencing anchor) costs
// nothing and is just an error.
func TestHostileYAML(t *testing.T) {
	bomb := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
server: *i
media: {camera: *i}
`
	cases := map[string]string{
		"alias bomb":       bomb,
		"self reference":   "server: &s {url: *s}\nsession: &x {reconnect: *x}\nleds: &l {lines: *l}\n",
		"deep nesting":     strings.Repeat("[", 100000),
		"deep block lists": strings.Repeat("- ", 50000) + "x\n",
		"long key":         "media:\n  " + strings.Repeat("k", 500000) + ": 1\n",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(data), "h.yaml")
			if err == nil {
				t.Fatal("hostile input parsed")
			}
			problems(t, err)
			if len(err.Error()) > 10000 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// server.dialect picks the signalling dialect; the livekit section is
// strict like every key, and used only with the livekit dialect.
func TestDialect(t *testing.T) {
	c, err := Parse([]byte("server:\n  url: ws://127.0.0.1:7880\n  dialect: livekit\n  livekit:\n    room: lobby-1\n    identity: kiosk-7\n    dp_identity: dp\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := (LiveKit{Room: "lobby-1", Identity: "kiosk-7", DPIdentity: "dp", DPSilence: DefaultDPSilence}); c.Server.Dialect != DialectLiveKit || c.Server.LiveKit != want {
		t.Fatalf("server = %+v", c.Server)
	}
	if c, err := Parse([]byte("server:\n  dialect: livekit\n"), "k.yaml"); err != nil || c.Server.LiveKit != (LiveKit{DPSilence: DefaultDPSilence}) {
		t.Fatalf("livekit defaults: %+v, %v", c, err)
	}
	bad := []struct{ yaml, want string }{
		{"server:\n  dialect: webrtc\n", `k.yaml:2: server.dialect: must be kioskd or livekit (got "webrtc")`},
		{"server:\n  dialect: \"\"\n", `k.yaml:2: server.dialect: must be kioskd or livekit (got "")`},
		{"server:\n  livekit:\n    room: lobby\n", "k.yaml:3: server.livekit.room: is only used with server.dialect: livekit"},
		{"server:\n  dialect: livekit\n  livekit:\n    identity: \"kiosk 7\"\n", "k.yaml:4: server.livekit.identity: may hold only letters, digits, '.', '_' and '-'"},
		{"server:\n  dialect: livekit\n  livekit:\n    dp_identity: " + strings.Repeat("d", 129) + "\n", "k.yaml:4: server.livekit.dp_identity: must be at most 128 characters (got 129)"},
		{"server:\n  dialect: livekit\n  livekit:\n    rooom: x\n", `k.yaml:4: server.livekit.rooom: unknown key (did you mean "room"?)`},
		{"server:\n  dialect: livekit\n  livekit: 3\n", ""},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.yaml), "k.yaml")
		if err == nil {
			t.Errorf("%q: no error", b.yaml)
			continue
		}
		if b.want != "" && err.Error() != b.want {
			t.Errorf("%q:\n got %s\nwant %s", b.yaml, err, b.want)
		}
	}
}

// server.livekit.agent_name: a LiveKit name, only with a token endpoint
// (a static token carries its own dispatch), only on the livekit dialect.
func TestAgentName(t *testing.T) {
	c, err := Parse([]byte("server:\n  dialect: livekit\n  token_endpoint: https://tokens.example.com/t\n  livekit:\n    agent_name: avatar-agent_1.2\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.LiveKit.AgentName != "avatar-agent_1.2" {
		t.Fatalf("server.livekit = %+v", c.Server.LiveKit)
	}
	if Default().Server.LiveKit.AgentName != "" {
		t.Fatal("agent_name defaults to a dispatch")
	}
	ep := "server:\n  dialect: livekit\n  token_endpoint: https://tokens.example.com/t\n  livekit:\n    agent_name: "
	for _, b := range []struct{ yaml, want string }{
		{ep + "\"my agent\"\n", "k.yaml:5: server.livekit.agent_name: may hold only letters, digits, '.', '_' and '-'"},
		{ep + strings.Repeat("a", 129) + "\n", "k.yaml:5: server.livekit.agent_name: must be at most 128 characters (got 129)"},
		{"server:\n  dialect: livekit\n  livekit:\n    agent_name: avatar\n", "k.yaml:4: server.livekit.agent_name: is only used with server.token_endpoint (a static access token carries its own agent dispatch in its room configuration)"},
		{"server:\n  livekit:\n    agent_name: avatar\n", "k.yaml:3: server.livekit.agent_name: is only used with server.dialect: livekit"},
	} {
		_, err := Parse([]byte(b.yaml), "k.yaml")
		if err == nil || err.Error() != b.want {
			t.Errorf("%q:\n got %v\nwant %s", b.yaml, err, b.want)
		}
	}
}

// server.livekit.dp_silence: 5 s by default, 0 turns the watch off,
// bounded otherwise, only on the livekit dialect.
func TestDPSilence(t *testing.T) {
	if d := Default().Server.LiveKit.DPSilence; d != 5*time.Second {
		t.Fatalf("default dp_silence %v, want 5s", d)
	}
	for yaml, want := range map[string]time.Duration{"0s": 0, "12s": 12 * time.Second, "4s": 4 * time.Second} {
		c, err := Parse([]byte("server:\n  dialect: livekit\n  livekit:\n    dp_silence: "+yaml+"\n"), "k.yaml")
		if err != nil {
			t.Fatalf("dp_silence %s: %v", yaml, err)
		}
		if c.Server.LiveKit.DPSilence != want {
			t.Fatalf("dp_silence %s = %v, want %v", yaml, c.Server.LiveKit.DPSilence, want)
		}
	}
	for _, b := range []struct{ yaml, want string }{
		{"server:\n  dialect: livekit\n  livekit:\n    dp_silence: 2s\n", "k.yaml:4: server.livekit.dp_silence: must be 0s (not watched) or between 4s and 5m0s (got 2s)"},
		{"server:\n  dialect: livekit\n  livekit:\n    dp_silence: 1h\n", "k.yaml:4: server.livekit.dp_silence: must be 0s (not watched) or between 4s and 5m0s (got 1h0m0s)"},
		{"server:\n  livekit:\n    dp_silence: 10s\n", "k.yaml:3: server.livekit.dp_silence: is only used with server.dialect: livekit"},
	} {
		_, err := Parse([]byte(b.yaml), "k.yaml")
		if err == nil || err.Error() != b.want {
			t.Errorf("%q:\n got %v\nwant %s", b.yaml, err, b.want)
		}
	}
}

// server.token_endpoint: https (http to loopback, or with allow_insecure),
// livekit only, strict; with it server.url is optional for a run. The URL
// is never echoed (a key may sit in its query).
func TestTokenEndpoint(t *testing.T) {
	c, err := Parse([]byte("server:\n  dialect: livekit\n  token_endpoint: https://tokens.example.com/api/token\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.TokenEndpoint != "https://tokens.example.com/api/token" {
		t.Fatalf("server = %+v", c.Server)
	}
	if err := c.ValidateForRun(); err != nil {
		t.Fatalf("ValidateForRun with an endpoint and no url = %v", err)
	}
	for _, ok := range []string{
		"server:\n  dialect: livekit\n  token_endpoint: http://127.0.0.1:8080/t\n",
		"server:\n  dialect: livekit\n  token_endpoint: http://localhost/t\n",
		"server:\n  dialect: livekit\n  allow_insecure: true\n  token_endpoint: http://lab.example/t\n",
	} {
		if _, err := Parse([]byte(ok), "k.yaml"); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	secret := "SeCrEtKeY"
	bad := []struct{ yaml, want string }{
		{"server:\n  token_endpoint: https://t.example/x\n", "k.yaml:2: server.token_endpoint: is only used with server.dialect: livekit"},
		{"server:\n  dialect: livekit\n  token_endpoint: http://t.example/x?k=" + secret + "\n", "k.yaml:3: server.token_endpoint: http:// to a host that is not loopback would send the credential and the token unencrypted; use https:// (or, for a lab only, set server.allow_insecure: true)"},
		{"server:\n  dialect: livekit\n  token_endpoint: wss://t.example/x\n", `k.yaml:3: server.token_endpoint: scheme must be https (or http for a lab), got "wss"`},
		{"server:\n  dialect: livekit\n  token_endpoint: t.example/x\n", "k.yaml:3: server.token_endpoint: must start with https:// (or http:// to loopback)"},
		{"server:\n  dialect: livekit\n  token_endpoint: https:///x\n", "k.yaml:3: server.token_endpoint: has no host; write it as https://host[:port]/path"},
		{"server:\n  dialect: livekit\n  token_endpoint: https://u:" + secret + "@t.example/x\n", "k.yaml:3: server.token_endpoint: must not carry credentials (user:password@); the bearer credential is in server.token_file or KIOSKD_TOKEN"},
		{"server:\n  dialect: livekit\n  token_endpoint: https://t.example/x#" + secret + "\n", "k.yaml:3: server.token_endpoint: must not have a #fragment"},
		{"server:\n  dialect: livekit\n  token_endpoint: https://t.example:0/x\n", `k.yaml:3: server.token_endpoint: port must be between 1 and 65535 (got "0")`},
		{"server:\n  dialect: livekit\n  token_endpoint: \"https://t.example/%zz" + secret + "\"\n", "k.yaml:3: server.token_endpoint: not a valid URL"},
		{"server:\n  dialect: livekit\n  token_endpoint: https://t.example/x\n  token_endpont: 1\n", `k.yaml:4: server.token_endpont: unknown key (did you mean "token_endpoint"?)`},
	}
	for _, b := range bad {
		_, err := Parse([]byte(b.yaml), "k.yaml")
		if err == nil || err.Error() != b.want {
			t.Errorf("%q:\n got %v\nwant %s", b.yaml, err, b.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%q: the error echoes the URL: %v", b.yaml, err)
		}
	}
	c, err = Parse([]byte("server:\n  dialect: livekit\n  allow_insecure: true\n  token_endpoint: http://lab.example/t\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || w[0] != "k.yaml:4: server.token_endpoint: INSECURE: http:// to a host that is not loopback sends the credential and the token unencrypted (server.allow_insecure: true); use https://" {
		t.Fatalf("warnings %q", w)
	}
	// Without an endpoint, livekit still needs server.url.
	c, err = Parse([]byte("server:\n  dialect: livekit\n"), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateForRun(); !errors.Is(err, ErrNoURL) {
		t.Fatalf("livekit without url nor endpoint: %v", err)
	}
}

// Roles are the profile's LEDs, then talk when lines names it.
func TestLEDRoles(t *testing.T) {
	l := Default().LEDs
	if got := strings.Join(l.Roles(), ","); got != "red,amber,green" {
		t.Errorf("roles %s, want red,amber,green", got)
	}
	l.Profile, l.Lines = ProfileBar, map[string]string{"step1": "a", "step2": "b", "step3": "c", "step4": "d", LEDTalk: "e"}
	if got := strings.Join(l.Roles(), ","); got != "step1,step2,step3,step4,talk" {
		t.Errorf("roles %s, want step1,step2,step3,step4,talk", got)
	}
	l.Profile = "disco"
	if r := l.Roles(); r != nil {
		t.Errorf("roles of an unknown profile %v, want none", r)
	}
}
