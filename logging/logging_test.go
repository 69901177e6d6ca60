package logging

import (
	"github.com/kioskd/kioskd/contract"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const secretToken = "tok-3xAMPLE-s3cr3t-Zq9"

// base64Key is a second secret with characters that URLs escape.
const base64Key = "aK9+fz/Q1w=="

func jsonLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		out = append(out, m)
	}
	b.Reset()
	return out
}

func newJSON(t *testing.T, opts Options) (*slog.Logger, *SessionTracker, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log, tr, err := New(FormatJSON, &buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return log, tr, &buf
}

func TestJSONKeys(t *testing.T) {
	log, tr, buf := newJSON(t, Options{})
	tr.Set("3f2a")
	log.Info("state", State(contract.ConnectingToDigitalPerson), ErrorName(contract.SessionTimeout),
		DisconnectReason(contract.ReasonSessionTimeout), "queuePosition", 3, "FramesSent", 10)
	m := jsonLines(t, buf)[0]
	want := map[string]any{
		"session_id": "3f2a", "connection_state": "ConnectingToDigitalPerson", "current_step": 3.0,
		"percentage_loaded": 75.0, "error_name": "sessionTimeout", "disconnect_reason": "sessionTimeout",
		"queue_position": 3.0, "frames_sent": 10.0, "msg": "state", "level": "INFO",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, m[k], v, m)
		}
	}
}

func TestTextKeys(t *testing.T) {
	var buf bytes.Buffer
	log, tr, err := New(FormatText, &buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Set("3f2a")
	log.Warn("state", State(contract.Connected), ErrorName(contract.NoScene), DisconnectReason(contract.ReasonNormal))
	line := buf.String()
	for _, want := range []string{"level=WARN", "msg=state", "connection_state=Connected", "current_step=4",
		"percentage_loaded=100", "error_name=noScene", "disconnect_reason=normal", "session_id=3f2a"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line %q lacks %q", line, want)
		}
	}
}

func TestSessionTracker(t *testing.T) {
	log, tr, buf := newJSON(t, Options{})

	log.Info("before")
	if _, ok := jsonLines(t, buf)[0]["session_id"]; ok {
		t.Fatal("session_id before Set")
	}

	tr.Set("A")
	log.Info("after")
	if m := jsonLines(t, buf)[0]; m["session_id"] != "A" {
		t.Fatalf("after Set: %v", m)
	}

	// A record with its own session_id keeps it, once.
	log.Info("own", "session_id", "B")
	raw := buf.String()
	if m := jsonLines(t, bytes.NewBufferString(raw))[0]; m["session_id"] != "B" || strings.Count(raw, "session_id") != 1 {
		t.Fatalf("own session_id: %s", raw)
	}
	buf.Reset()
	log.With(SessionID("C")).Info("with")
	raw = buf.String()
	if m := jsonLines(t, buf)[0]; m["session_id"] != "C" || strings.Count(raw, "session_id") != 1 {
		t.Fatalf("With session_id: %s", raw)
	}
	log.Info("camel", "sessionID", "D")
	if raw := buf.String(); strings.Count(raw, "session_id") != 1 || !strings.Contains(raw, `"session_id":"D"`) {
		t.Fatalf("sessionID: %s", raw)
	}
	buf.Reset()

	// Groups: session_id stays at the top level, attrs stay in their groups.
	log.WithGroup("g").With("a", 1).WithGroup("h").Info("grouped", "k", 2)
	raw = buf.String()
	want := `"session_id":"A","g":{"a":1,"h":{"k":2}}`
	if !strings.Contains(raw, want) {
		t.Fatalf("grouped line %s lacks %s", raw, want)
	}
	buf.Reset()
	log.WithGroup("empty").Info("no attrs")
	if m := jsonLines(t, buf)[0]; m["session_id"] != "A" || m["empty"] != nil {
		t.Fatalf("empty group: %v", m)
	}

	tr.Clear()
	log.Info("cleared")
	if _, ok := jsonLines(t, buf)[0]["session_id"]; ok || tr.ID() != "" {
		t.Fatal("session_id after Clear")
	}

	// Wraps any handler.
	var other bytes.Buffer
	tr.Set("E")
	slog.New(tr.Wrap(slog.NewTextHandler(&other, nil))).Info("x")
	if !strings.Contains(other.String(), "session_id=E") {
		t.Fatalf("Wrap: %q", other.String())
	}
}

func TestSessionTrackerConcurrent(t *testing.T) {
	log, tr, buf := newJSON(t, Options{})
	tr.Set("s1")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tr.Set(fmt.Sprintf("s%d", i%2+1))
		}
	}()
	var lw sync.WaitGroup
	for g := 0; g < 8; g++ {
		lw.Add(1)
		go func() {
			defer lw.Done()
			l := log.With("g", g)
			for i := 0; i < 200; i++ {
				l.Info("line", "i", i)
			}
		}()
	}
	lw.Wait()
	close(stop)
	wg.Wait()
	lines := jsonLines(t, buf)
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, m := range lines {
		if id := m["session_id"]; id != "s1" && id != "s2" {
			t.Fatalf("line without a proper session_id: %v", m)
		}
	}
}

type secretValuer struct{}

func (secretValuer) LogValue() slog.Value { return slog.StringValue("v=" + secretToken) }

type stringer struct{}

func (stringer) String() string { return "S(" + secretToken + ")" }

// logSecrets writes one line full of the token in every shape.
func logSecrets(log *slog.Logger) {
	log.With("preset", "p="+secretToken, "password", "hunter2").
		Error("connect to wss://dp/?token="+secretToken+" failed",
			"url", "wss://dp/?token="+secretToken,
			"escaped", "wss://dp/?k="+url.QueryEscape(base64Key),
			"token", "anything",
			"Authorization", "Bearer x",
			"err", fmt.Errorf("wrap: %w", errors.New("bad "+secretToken)),
			"valuer", secretValuer{},
			"stringer", stringer{},
			"map", map[string]string{"t": secretToken},
			slog.Group("server", "hdr", "Bearer "+secretToken, slog.Group("credentials", "user", "u")),
		)
}

func TestRedactionJSONAndText(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatText} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log, tr, err := New(format, &buf, Options{Secrets: []string{secretToken, base64Key}})
			if err != nil {
				t.Fatal(err)
			}
			tr.Set("sid")
			logSecrets(log)
			out := buf.String()
			if strings.Contains(out, secretToken) || strings.Contains(out, url.QueryEscape(base64Key)) ||
				strings.Contains(out, "hunter2") || strings.Contains(out, "Bearer x") {
				t.Fatalf("secret in %s output: %s", format, out)
			}
			// (URLs lose their query whole, so they count no redaction.)
			if n := strings.Count(out, Redacted); n < 10 {
				t.Fatalf("only %d redactions in %s", n, out)
			}
			if format == FormatJSON {
				m := jsonLines(t, &buf)[0]
				server := m["server"].(map[string]any)
				for k, v := range map[string]any{
					"msg": "connect to wss://dp/ failed", "token": Redacted, "authorization": Redacted,
					"password": Redacted, "err": "wrap: bad [REDACTED]", "valuer": "v=[REDACTED]",
					"stringer": "S([REDACTED])", "preset": "p=[REDACTED]", "escaped": "wss://dp/", "url": "wss://dp/",
					"session_id": "sid",
				} {
					if m[k] != v {
						t.Errorf("%s = %v, want %v", k, m[k], v)
					}
				}
				if server["hdr"] != "Bearer [REDACTED]" || server["credentials"] != Redacted {
					t.Errorf("server group = %v", server)
				}
			}
		})
	}
}

func TestRedactWithGroupNamedLikeASecret(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(Redact(slog.NewJSONHandler(&buf, nil), secretToken))
	log.WithGroup("auth").Info("x", "user", "u", "pass", "p")
	log.Info("y", "note", "nothing secret")
	out := buf.String()
	if strings.Contains(out, `"user":"u"`) || !strings.Contains(out, `"auth":{"user":"[REDACTED]","pass":"[REDACTED]"}`) {
		t.Fatalf("group named auth: %s", out)
	}
	if !strings.Contains(out, `"note":"nothing secret"`) {
		t.Fatalf("plain attr changed: %s", out)
	}
}

func TestKeys(t *testing.T) {
	for in, want := range map[string]string{
		"session_id": "session_id", "sessionID": "session_id", "SessionID": "session_id",
		"currentStep": "current_step", "HTTPServer": "http_server", "frames-sent": "frames_sent",
		"media.fps": "media_fps", "ICE_State": "ice_state", "x": "x", "": "",
	} {
		if got := SnakeKey(in); got != want {
			t.Errorf("SnakeKey(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"SESSION_ID": "SESSION_ID", "_PID": "PID", "__X": "X", "9LIVES": "X_9LIVES", "": "ATTR",
		"A-B.C": "A_B_C", strings.Repeat("A", 80): strings.Repeat("A", 64),
	} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
	for key, secret := range map[string]bool{
		"token": true, "Token": true, "auth_token": true, "authorization": true, "Authorization": true,
		"password": true, "db_password": true, "secret": true, "client_secret": true, "api_key": true,
		"apiKey": true, "key": true, "private_key": true, "cookie": true, "credentials": true,
		"token_file": false, "session_id": false, "keyframes": false, "key_frames": false,
		"disconnect_reason": false, "error_name": false, "url": false, "monkey": false,
	} {
		if got := SecretKey(key); got != secret {
			t.Errorf("SecretKey(%q) = %v, want %v", key, got, secret)
		}
	}
}

// Structural redaction: a secret nobody named (a query token in some URL)
// never reaches a line, and the configured token is caught in the forms a
// %q or a JSON encoder would give it, not only verbatim.
func TestRedactionStructural(t *testing.T) {
	const token = `tok"en\with-quote-0123456789`
	var buf bytes.Buffer
	log, _, err := New(FormatJSON, &buf, Options{Secrets: []string{token}})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dial wss://user:pw@dp.example.com:8443/v1?access_token=unnamed-S3cr3t#frag refused",
		"server", "wss://dp.example.com/v1?key=unnamed-S3cr3t",
		"quoted", fmt.Sprintf("it chose %q", token),
		"json", `{"t":`+jsonString(token)+`}`,
		"err", fmt.Errorf("handshake with http://x/?sig=unnamed-S3cr3t failed"))
	out := buf.String()
	for _, bad := range []string{"unnamed-S3cr3t", "user:pw", "frag", "with-quote"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q in %s", bad, out)
		}
	}
	for _, want := range []string{"dial wss://dp.example.com:8443/v1 refused", `"server":"wss://dp.example.com/v1"`, "handshake with http://x/ failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in %s", want, out)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
