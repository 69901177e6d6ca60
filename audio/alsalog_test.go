package audio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// childEnv marks the process TestALSAErrorsGoToTheLog runs as its child.
const childEnv = "KIOSKD_ALSALOG_CHILD"

// noCardConf is an ALSA configuration whose PCM names a card that does not
// exist: opening it makes alsa-lib report an error, as the stock
// configuration's "default" does on a machine without a sound card.
const noCardConf = "pcm.nocard {\n  type hw\n  card \"kioskdNoSuchCard\"\n}\n"

// TestALSAErrorsGoToTheLog (issue 16, item 4): in a process of its own
// (alsa-lib's handler and stderr are the process's), a microphone and a
// speaker on a PCM naming a missing card fail with ErrMissing, the error
// carrying alsa-lib's cause once; alsa-lib's report reaches the opener's
// logger as structured lines carrying its attributes (the session id),
// and not one raw "ALSA lib …" line reaches stderr.
func TestALSAErrorsGoToTheLog(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		alsaChild()
		return
	}
	conf := filepath.Join(t.TempDir(), "asound.conf")
	if err := os.WriteFile(conf, []byte(noCardConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestALSAErrorsGoToTheLog$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1", "ALSA_CONFIG_PATH="+conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "ALSA lib") {
		t.Errorf("raw alsa-lib lines on stderr:\n%s", stderr.String())
	}
	alsaLines, results := 0, map[string]string{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var rec map[string]any
		if !strings.HasPrefix(sc.Text(), "{") {
			continue // the test framework's own lines
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		msg, _ := rec["msg"].(string)
		switch {
		case strings.HasPrefix(msg, "alsa-lib: "):
			alsaLines++
			if rec["session_id"] != "s-alsa" || rec["level"] != "DEBUG" || !strings.Contains(rec["alsa_error"].(string), "kioskdNoSuchCard") || rec["alsa_source"] == "" {
				t.Errorf("alsa-lib line: %v", rec)
			}
		case msg == "result":
			results[rec["device"].(string)] = rec["error"].(string)
		}
	}
	if alsaLines < 2 {
		t.Errorf("%d structured alsa-lib lines, want at least one per open:\n%s", alsaLines, stdout.String())
	}
	for _, dev := range []string{"microphone", "speaker"} {
		e := results[dev]
		if !strings.HasPrefix(e, ErrMissing.Error()+": ") || strings.Count(e, "kioskdNoSuchCard") != 1 || strings.Count(e, ErrMissing.Error()) != 1 {
			t.Errorf("%s: error %q, want ErrMissing with alsa-lib's cause, each once", dev, e)
		}
	}
}

// alsaChild opens the missing card's PCM both ways, logging JSON on stdout
// through a logger that carries a session id, and writes each result.
func alsaChild() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug})).With("session_id", "s-alsa")
	report := func(dev string, err error) {
		if !errors.Is(err, ErrMissing) {
			log.Error("unexpected", "device", dev, "error", err)
			os.Exit(3)
		}
		log.Info("result", "device", dev, "error", err.Error())
	}
	m, err := OpenMicrophone(MicrophoneConfig{PCM: "nocard", Log: log})
	if err == nil {
		m.Close()
	}
	report("microphone", err)
	p, err := OpenPlayer(PlayerConfig{PCM: "nocard", Log: log})
	if err == nil {
		p.Close()
	}
	report("speaker", err)
}
