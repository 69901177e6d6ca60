// Package cli is kioskd's command line (docs/BEHAVIOUR.md section 11), the
// top layer: cmd/kioskd's main only calls Main. Each command parses its
// flags; `run` loads the config, builds the logger and hands over to
// package daemon, which wires and runs everything else. `demo` does the
// same with a config of its own and console LEDs, against the reference
// server (dpsim) run in this process on loopback; `devices`,
// `check-config`, `status`, `leds`, `leds-off`, `version` and `completion`
// stand alone. Every command answers --help on stdout (cli.go).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/kioskd/kioskd/config"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitUsage  = 2
	exitConfig = 3
)

// cmdHelp is a command's line in the usage and the head of its --help.
type cmdHelp struct {
	args    string // after "kioskd NAME"
	summary string
}

// commands lists every command in the order of the usage. Each has its
// --help (`kioskd NAME --help`, `kioskd help NAME`), built from this and
// its flags; completion.bash completes the same names (TestCompletionKnowsEveryCommand).
var commands = []string{"run", "demo", "devices", "check-config", "status", "leds", "leds-off", "version", "completion", "help"}

var helps = map[string]cmdHelp{
	"run":           {"--config FILE [--log-format auto|journal|json|text]", "the daemon"},
	"demo":          {"[--for DURATION] [--camera test|auto|none|DEVICE]", "an in-process demo, no setup needed"},
	"devices":       {"", "cameras, microphones, speakers, LEDs"},
	"check-config":  {"--config FILE [--show]", "validate a config file, its drop-ins and the token"},
	"status":        {"[--json|--check] [--watch] [--socket PATH]", "ask the running daemon"},
	"leds":          {"test|identify [--for 30s]", "staff tools: the lamp test, or identify this kiosk"},
	"leds test":     {"[--socket PATH] [--config FILE]", "lamp test: every LED, every pattern, every error code in turn, each printed as it shows (about 50 s); through the daemon if it runs, else on the LEDs of --config"},
	"leds identify": {"[--for DURATION] [--socket PATH] [--config FILE]", "identify this kiosk: every LED flashes together, 2.5 times a second (a look no state has); through the daemon if it runs, else on the LEDs of --config"},
	"leds-off":      {"--config FILE", "turn the status LEDs off (after a kill)"},
	"version":       {"[--json]", "the version, commit and Go version"},
	"completion":    {"bash", "print the bash completion script"},
	"help":          {"[COMMAND]", "this help, or a command's"},
}

// usage is the top help: one line per command.
func usage() string {
	var b strings.Builder
	b.WriteString("kioskd connects a kiosk's camera and microphone to a Digital Person server.\n\nUsage:\n")
	width := 0
	for _, name := range commands {
		width = max(width, len(strings.TrimSpace("kioskd "+name+" "+helps[name].args)))
	}
	for _, name := range commands {
		h := helps[name]
		fmt.Fprintf(&b, "  %-*s  %s\n", width, strings.TrimSpace("kioskd "+name+" "+h.args), h.summary)
	}
	b.WriteString("\nRun 'kioskd COMMAND --help' for a command's flags.\n")
	return b.String()
}

// Main runs the command line and returns the exit code. Help goes to
// stdout with exit 0; a usage error is one line and a hint on stderr, exit 2.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "--help", "-h", "-help":
		if len(rest) == 0 || cmd != "help" || rest[0] == "help" {
			fmt.Fprint(stdout, usage())
			return exitOK
		}
		if dispatch(rest[0]) == nil {
			return usageError(stderr, "kioskd help", fmt.Sprintf("unknown command %q", rest[0]), "kioskd")
		}
		return Main(append(append([]string(nil), rest...), "--help"), stdout, stderr)
	case "--version", "-v":
		cmd = "version"
	}
	run := dispatch(cmd)
	if run == nil {
		return usageError(stderr, "kioskd", fmt.Sprintf("unknown command %q", cmd), "kioskd")
	}
	// --help anywhere among the flags: the command's help on stdout, not
	// its error output. The words before the first flag stay (the
	// subcommand of `kioskd leds identify --help`).
	if i := slices.IndexFunc(rest, isHelpFlag); i >= 0 && !slices.Contains(rest[:i], "--") {
		words := rest[:i]
		if j := slices.IndexFunc(words, func(a string) bool { return strings.HasPrefix(a, "-") }); j >= 0 {
			words = words[:j]
		}
		return run(append(append([]string(nil), words...), "--help"), stdout, stdout)
	}
	return run(rest, stdout, stderr)
}

// dispatch is the function of a command (nil: no such command).
func dispatch(cmd string) func(args []string, stdout, stderr io.Writer) int {
	switch cmd {
	case "run":
		return cmdRun
	case "demo":
		return cmdDemo
	case "devices":
		return cmdDevices
	case "check-config":
		return cmdCheckConfig
	case "status":
		return cmdStatus
	case "leds":
		return cmdLEDs
	case "leds-off":
		return cmdLEDsOff
	case "version":
		return cmdVersion
	case "completion":
		return cmdCompletion
	}
	return nil
}

func isHelpFlag(a string) bool {
	switch a {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// usageError prints one line saying what is wrong and one saying where
// help is, and returns exitUsage.
func usageError(stderr io.Writer, who, msg, helpCmd string) int {
	fmt.Fprintf(stderr, "%s: %s\nrun '%s --help' for usage\n", who, msg, helpCmd)
	return exitUsage
}

// newFlags is the flag set of command name ("leds identify" for a
// subcommand), writing to stderr. Its usage is the command's help.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kioskd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { writeHelp(fs.Output(), fs, name) }
	return fs
}

// writeHelp is a command's --help: its synopsis and summary, then its flags.
func writeHelp(w io.Writer, fs *flag.FlagSet, name string) {
	h := helps[name]
	fmt.Fprintf(w, "Usage: %s\n", strings.TrimSpace("kioskd "+name+" "+h.args))
	if h.summary != "" {
		fmt.Fprintf(w, "\n%s.\n", strings.ToUpper(h.summary[:1])+h.summary[1:])
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		// The flag package writes "-name"; kioskd's documents write "--name"
		// (both work).
		var b strings.Builder
		out := fs.Output()
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(out)
		fmt.Fprint(w, "\nFlags:\n"+strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:])
	}
}

// parse parses args. --help prints the command's help and gives exitOK; a
// bad flag or a stray argument prints one line and a hint (not the whole
// usage) and gives exitUsage. ok is true when the command should go on.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	out := fs.Output()
	fs.SetOutput(io.Discard) // the flag package would print the whole usage on an error
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return exitOK, false
	case err != nil:
		return usageError(out, fs.Name(), err.Error(), fs.Name()), false
	case fs.NArg() > 0:
		return usageError(out, fs.Name(), fmt.Sprintf("unexpected argument %q", fs.Arg(0)), fs.Name()), false
	}
	return 0, true
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check-config", stderr)
	path := fs.String("config", config.DefaultPath, "config file (its drop-ins: FILE.d/*.yaml)")
	show := fs.Bool("show", false, "print the effective configuration, each key with the file and line it comes from")
	cond := fs.Bool("condition", false, "as the unit's ExecCondition=: a token not readable here is no failure while server.token_credential names a credential (systemd gives credentials to kioskd run only)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	var problems []string
	if err := cfg.ValidateForRun(); err != nil {
		problems = append(problems, err.Error())
	}
	tok, err := cfg.LoadToken()
	switch {
	case err != nil && *cond && cfg.Server.TokenCredential != "" && !credentialHere(cfg.Server.TokenCredential):
		// systemd (before 259) sets credentials up for ExecStart= and not
		// for ExecCondition= (252 sets $CREDENTIALS_DIRECTORY there, but
		// puts nothing in it): the token may well come at start. kioskd
		// run reads it then, or exits 3 saying what is missing.
		fmt.Fprintf(stderr, "kioskd: not checked here: %v; if the unit gives the credential %s, kioskd run reads it\n", err, cfg.Server.TokenCredential)
		err = nil
	case err != nil:
		problems = append(problems, err.Error())
	}
	if _, err := cfg.TLSConfig(); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := cfg.ResolvedICEServers(); err != nil {
		problems = append(problems, err.Error())
	}
	if err := checkMetricsWebConfig(cfg); err != nil {
		problems = append(problems, err.Error())
	}
	if *show {
		src := tok.Source
		if src == "" && err == nil {
			src = "none (server.token_file is empty)"
		}
		if err := cfg.Show(stdout, src); err != nil {
			fmt.Fprintln(stderr, "kioskd:", err)
			return exitFail
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return exitConfig
	}
	for _, w := range append(cfg.Warnings(), tok.Warning) {
		if w != "" {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	if !*show {
		fmt.Fprintf(stdout, "%s: OK\n", *path)
	}
	return exitOK
}

// credentialHere reports whether the systemd credential name is in this
// process's $CREDENTIALS_DIRECTORY.
func credentialHere(name string) bool {
	dir := os.Getenv(config.EnvCredentials)
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// signalContext is cancelled by SIGTERM or SIGINT.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}
