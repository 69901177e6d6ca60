package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// configDir writes main as kioskd.yaml and each drop-in (name → content)
// into kioskd.yaml.d, and returns the main file's path.
func configDir(t *testing.T, main string, dropIns map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "kioskd.yaml")
	if err := os.WriteFile(path, []byte(main), 0o640); err != nil {
		t.Fatal(err)
	}
	if dropIns != nil {
		if err := os.Mkdir(DropInDir(path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range dropIns {
		if err := os.WriteFile(filepath.Join(DropInDir(path), name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestDropInsMergeInLexicalOrder(t *testing.T) {
	shipped, err := os.ReadFile("../configs/kioskd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := configDir(t, string(shipped), map[string]string{
		"50-site.yaml":         "server:\n  url: wss://dp.site.example/v1/session\nmedia:\n  fps: 10\n",
		"90-leds.yaml":         "leds:\n  backend: gpio\n  profile: bar\n  lines: {step1: L1, step2: L2, step3: L3, step4: L4}\n",
		"60-override.yaml":     "media:\n  fps: 12\n",
		"README":               "not yaml: [",        // not *.yaml: not read
		"70-old.yaml.dpkg-old": "media: {fps: 99}\n", // dpkg's leftover: not read
		".80-swap.yaml":        "media: {fps: 98}\n", // hidden: not read
	})
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.URL != "wss://dp.site.example/v1/session" {
		t.Errorf("server.url = %q, want the drop-in's", c.Server.URL)
	}
	if c.Media.FPS != 12 {
		t.Errorf("media.fps = %d, want 12: 60-override.yaml comes after 50-site.yaml", c.Media.FPS)
	}
	// Sections merge key by key: the rest of media is the main file's.
	if c.Media.Width != 640 || c.Server.Heartbeat != 5*time.Second {
		t.Errorf("keys the drop-ins do not set changed: width %d heartbeat %v", c.Media.Width, c.Server.Heartbeat)
	}
	// A map is replaced whole: no red/amber/green left from the main file.
	if want := map[string]string{"step1": "L1", "step2": "L2", "step3": "L3", "step4": "L4"}; !mapsEqual(c.LEDs.Lines, want) {
		t.Errorf("leds.lines = %v, want %v", c.LEDs.Lines, want)
	}
	if err := c.ValidateForRun(); err != nil {
		t.Fatal(err)
	}
	names, err := DropIns(path)
	if err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, n := range names {
		base = append(base, filepath.Base(n))
	}
	if want := []string{"50-site.yaml", "60-override.yaml", "90-leds.yaml"}; !slices.Equal(base, want) {
		t.Errorf("DropIns = %v, want %v", base, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDropInErrorsNameTheirFileAndLine(t *testing.T) {
	path := configDir(t, "server:\n  url: wss://dp.example/v1\nmedia:\n  fsp: 10\n", map[string]string{
		"10-a.yaml": "# comment\nmedia:\n  width: 641\n",
		"20-b.yaml": "leds:\n  backend: blinky\nsession:\n  reconect: {}\n",
	})
	_, err := Load(path)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	a, b := filepath.Join(DropInDir(path), "10-a.yaml"), filepath.Join(DropInDir(path), "20-b.yaml")
	want := []string{
		path + `:4: media.fsp: unknown key (did you mean "fps"?)`,
		a + ":3: media.width: must be even, as 4:2:0 video needs (got 641)",
		b + `:2: leds.backend: must be gpio, ledclass, console or none (got "blinky")`,
		b + `:4: session.reconect: unknown key (did you mean "reconnect"?)`,
	}
	if got := messages(t, err); !slices.Equal(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDropInOverrideMovesTheErrorToTheLaterFile(t *testing.T) {
	// The main file's fps is fine, the drop-in's is not: the error names
	// the drop-in, where the value in force was written.
	path := configDir(t, "media:\n  fps: 15\n", map[string]string{"50-x.yaml": "\n\nmedia:\n  fps: 0\n"})
	_, err := Load(path)
	want := filepath.Join(DropInDir(path), "50-x.yaml") + ":4: media.fps: must be between 1 and 60 (got 0)"
	if got := messages(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestDropInSyntaxErrorAndDuplicates(t *testing.T) {
	path := configDir(t, "", map[string]string{
		"10-dup.yaml": "media:\n  fps: 10\n  fps: 11\n",
		"20-bad.yaml": "media:\n\tfps: 10\n",
	})
	_, err := Load(path)
	got := messages(t, err)
	if len(got) != 2 || !strings.HasPrefix(got[0], filepath.Join(DropInDir(path), "10-dup.yaml")+":3: media.fps: duplicate key") ||
		!strings.HasPrefix(got[1], filepath.Join(DropInDir(path), "20-bad.yaml")+":2: ") {
		t.Errorf("got %q", got)
	}
}

func TestDropInDirectoryProblems(t *testing.T) {
	t.Run("missing directory: no drop-ins", func(t *testing.T) {
		path := configDir(t, "media: {fps: 9}\n", nil)
		c, err := Load(path)
		if err != nil || c.Media.FPS != 9 {
			t.Fatalf("Load = %v, %v", c, err)
		}
	})
	t.Run("a directory named *.yaml", func(t *testing.T) {
		path := configDir(t, "", map[string]string{})
		if err := os.Mkdir(filepath.Join(DropInDir(path), "x.yaml"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !errors.Is(err, ErrDropIns) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "x.yaml: is a directory") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("too many", func(t *testing.T) {
		files := map[string]string{}
		for i := range MaxDropIns + 1 {
			files[filepath.Base(t.Name())+string(rune('a'+i%26))+strings.Repeat("z", i/26)+".yaml"] = ""
		}
		_, err := Load(configDir(t, "", files))
		if !errors.Is(err, ErrDropIns) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unreadable drop-in names its file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads every file")
		}
		path := configDir(t, "", map[string]string{"50-x.yaml": "media: {fps: 9}\n"})
		if err := os.Chmod(filepath.Join(DropInDir(path), "50-x.yaml"), 0); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "50-x.yaml") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a drop-in too large", func(t *testing.T) {
		path := configDir(t, "", map[string]string{"50-x.yaml": strings.Repeat("#", MaxFileSize+1)})
		_, err := Load(path)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "50-x.yaml") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestShowNamesTheOriginOfEveryKey(t *testing.T) {
	path := configDir(t, "server:\n  url: wss://dp.example/v1?key=hunter2-secret\n  token_file: /etc/kioskd/token\n",
		map[string]string{"50-site.yaml": "server:\n  url: wss://dp.site.example/v1/session?t=hunter2-secret\nleds:\n  profile: bar\n  backend: console\n  lines: {step2: b, step1: a, step3: c, step4: d}\n"})
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := c.Show(&b, "server.token_file /etc/kioskd/token"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("a secret of the URL's query was shown:\n%s", out)
	}
	site := filepath.Join(DropInDir(path), "50-site.yaml")
	for _, want := range []string{
		"# effective configuration: " + path + " + " + site + "\n",
		"  url: wss://dp.site.example/v1/session?REDACTED",
		"# " + site + ":2\n",
		"  token_file: /etc/kioskd/token",
		"# " + path + ":3\n",
		"  heartbeat: 5s",
		"# default\n",
		"  profile: bar",
		"  lines:",
		"    step1: a",
		"# " + site + ":6\n",
		"# token: server.token_file /etc/kioskd/token (never shown)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// step1..step4 in display order.
	if i, j := strings.Index(out, "step1: a"), strings.Index(out, "step2: b"); i < 0 || j < i {
		t.Errorf("lines not in display order:\n%s", out)
	}
	// What Show prints is a config file giving the same Config.
	var plain strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if before, _, ok := strings.Cut(l, "  # "); ok {
			l = before
		}
		plain.WriteString(strings.Replace(l, "?REDACTED", "?t=hunter2-secret", 1) + "\n")
	}
	back, err := Parse([]byte(plain.String()), "shown.yaml")
	if err != nil {
		t.Fatalf("the shown config does not parse: %v\n%s", err, plain.String())
	}
	if !back.Same(c) {
		t.Errorf("the shown config reads back as another:\n%+v\nwant\n%+v", back, c)
	}
}
