package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helpArgs are every command's words, for --help and flag checks.
func helpArgs() [][]string {
	var out [][]string
	for _, c := range commands {
		switch c {
		case "help":
		case "leds":
			out = append(out, []string{"leds", "test"}, []string{"leds", "identify"})
		default:
			out = append(out, []string{c})
		}
	}
	return out
}

// TestHelpOnStdout: `kioskd --help`, `kioskd help`, `kioskd CMD --help`,
// `CMD -h` and `kioskd help CMD` print help on stdout and exit 0.
func TestHelpOnStdout(t *testing.T) {
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		if code, out, errOut := run(args...); code != 0 || !strings.Contains(out, "Usage:\n  kioskd run") || errOut != "" {
			t.Errorf("kioskd %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	for _, words := range append(helpArgs(), []string{"leds"}) {
		name := strings.Join(words, " ")
		for _, h := range []string{"--help", "-h"} {
			code, out, errOut := run(append(append([]string(nil), words...), h)...)
			if code != 0 || !strings.HasPrefix(out, "Usage: kioskd "+name) || errOut != "" {
				t.Errorf("kioskd %s %s: exit %d, stdout %q, stderr %q", name, h, code, out, errOut)
			}
			if _, again, _ := run(append([]string{"help"}, words...)...); again != out {
				t.Errorf("kioskd help %s differs from --help:\n%s\n---\n%s", name, again, out)
			}
		}
	}
	// --help after other flags too.
	if code, out, _ := run("status", "--json", "--help"); code != 0 || !strings.HasPrefix(out, "Usage: kioskd status") {
		t.Errorf("status --json --help: %d %q", code, out)
	}
}

// TestUsageErrorsAreOneLine: a bad flag, a stray argument or an unknown
// command is one line saying what is wrong and one hint, on stderr, exit 2.
func TestUsageErrorsAreOneLine(t *testing.T) {
	type tc struct {
		args       []string
		first, who string
	}
	var cases []tc
	for _, words := range helpArgs() {
		name := "kioskd " + strings.Join(words, " ")
		cases = append(cases, tc{append(append([]string(nil), words...), "--bogus"), name + ": flag provided but not defined: -bogus", name})
	}
	cases = append(cases,
		tc{[]string{"frobnicate"}, `kioskd: unknown command "frobnicate"`, "kioskd"},
		tc{[]string{"help", "frobnicate"}, `kioskd help: unknown command "frobnicate"`, "kioskd"},
		tc{[]string{"status", "extra"}, `kioskd status: unexpected argument "extra"`, "kioskd status"},
		tc{[]string{"leds", "blink"}, `kioskd leds: unknown subcommand "blink": want test or identify`, "kioskd leds"},
		tc{[]string{"completion", "zsh"}, `kioskd completion: unexpected argument "zsh"`, "kioskd completion"},
	)
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := Main(c.args, &out, &errOut)
		want := c.first + "\nrun '" + c.who + " --help' for usage\n"
		if code != exitUsage || errOut.String() != want || out.Len() != 0 {
			t.Errorf("kioskd %v: exit %d\nstderr %q\n  want %q\nstdout %q", c.args, code, errOut.String(), want, out.String())
		}
	}
}

func TestVersionJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"version", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"version", "go_version", "platform"} {
		if s, _ := v[k].(string); s == "" {
			t.Errorf("version --json lacks %s: %s", k, out.String())
		}
	}
}

// TestCompletionKnowsEveryCommand: the script lists every command, and
// completes a command's flags from its --help, run in a real bash.
func TestCompletionKnowsEveryCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"completion", "bash"}, &out, &errOut); code != 0 || out.String() != completionBash {
		t.Fatalf("completion bash: exit %d, %q", code, errOut.String())
	}
	if !strings.Contains(completionBash, `compgen -W "`+strings.Join(commands, " ")+` --help --version"`) {
		t.Errorf("completion.bash does not list the commands %v", commands)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		script := "compopt() { :; }\n" + completionBash + `
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kioskd; echo "${COMPREPLY[*]}"`
		cmd := exec.Command(bash, append([]string{"-c", script, "bash", exe}, words...)...)
		cmd.Env = append(os.Environ(), "KIOSKD_TEST_MAIN=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, b)
		}
		return strings.TrimSpace(string(b))
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"sta"}, "status"},
		{[]string{"leds", "id"}, "identify"},
		{[]string{"status", "--ch"}, "--check"},
		{[]string{"leds", "identify", "--f"}, "--for"},
		{[]string{"run", "--log-format", "j"}, "journal json"},
		{[]string{"help", "check"}, "check-config"},
	} {
		if got := complete(c.words...); got != c.want {
			t.Errorf("complete %v: %q, want %q", c.words, got, c.want)
		}
	}
}
