// Package cli is kioskd's command line (docs/BEHAVIOUR.md section 11), the
// top layer: cmd/kioskd's main only calls Main. Each command parses its
// flags; `run` loads the config, builds the logger and hands over to
// package daemon, which wires and runs everything else. `demo` does the
// same with a config of its own and console LEDs, against the reference
// server (dpsim) run in this process on loopback; `devices`,
// `check-config`, `status`, `leds-off` and `version` stand alone.
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
	"runtime"
	"syscall"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/version"
)

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitUsage  = 2
	exitConfig = 3
)

const usage = `kioskd connects a kiosk's camera and microphone to a Digital Person server.

Usage:
  kioskd run --config FILE [--log-format auto|journal|json|text]   the daemon
  kioskd demo [--for DURATION]                                      an in-process demo, no setup needed
  kioskd devices                                                    cameras, microphones, speakers, LEDs
  kioskd check-config --config FILE [--show]                        validate the config file and its drop-ins
  kioskd status [--json] [--watch] [--socket PATH]                  ask the running daemon
  kioskd leds-off --config FILE                                     turn the status LEDs off (after a kill)
  kioskd version
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "devices":
		return cmdDevices(rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout, stderr)
	case "status":
		return cmdStatus(rest, stdout, stderr)
	case "leds-off":
		return cmdLEDsOff(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "kioskd %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "kioskd: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kioskd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
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
