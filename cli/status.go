package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/status"
)

// Exit codes of `kioskd status` (without --watch), like `systemctl
// is-active` and the LSB's status action: scripts can tell the kiosk's
// condition from the code alone. With --check they are also the
// monitoring plugin convention's OK, WARNING, CRITICAL and UNKNOWN, with
// "not running" counted as CRITICAL there.
const (
	statusConnected  = 0 // Connected
	statusConnecting = 1 // a connection step in progress
	statusFailing    = 2 // Disconnected: between attempts, or waiting for devices
	statusNotRunning = 3 // no daemon answers on the socket
)

// statusCode is the exit code for st.
func statusCode(st status.Status) int {
	switch st.State {
	case "Connected":
		return statusConnected
	case "Disconnected":
		return statusFailing
	}
	return statusConnecting
}

// checkLine is --check's one line for a monitoring system.
func checkLine(st status.Status, code int) string {
	word := map[int]string{statusConnected: "OK", statusConnecting: "WARNING", statusFailing: "CRITICAL"}[code]
	line := fmt.Sprintf("KIOSKD %s: %s", word, st.State)
	if st.SessionID != "" {
		line += " session " + st.SessionID
	}
	if st.LastError != "" && code != statusConnected {
		line += " (last error " + st.LastErrorText()
		if h, ok := status.HintFor(st.LastError, st.LastErrorDetail); ok {
			line += fmt.Sprintf(", LED code %d", h.Code)
		}
		line += ")"
	}
	return line
}

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", stderr)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	check := fs.Bool("check", false, "one line for monitoring; exit 0 OK (Connected), 1 WARNING (connecting), 2 CRITICAL (failing or not running)")
	watch := fs.Bool("watch", false, "keep showing a live line, with the whole session id, until Ctrl-C; reconnects when the daemon restarts")
	socket := fs.String("socket", "", "the daemon's status socket (default: status.socket of --config)")
	cfgPath := fs.String("config", config.DefaultPath, "config file, to find the status socket")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	path := *socket
	if path == "" {
		path = config.Default().Status.Socket
		if cfg, err := config.Load(*cfgPath); err == nil {
			path = cfg.Status.Socket
		}
	}
	if *watch {
		return watchStatus(path, *asJSON, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := status.Query(ctx, path)
	if err != nil {
		if *check {
			fmt.Fprintf(stdout, "KIOSKD CRITICAL: not running (%v)\n", err)
			return statusFailing
		}
		fmt.Fprintln(stderr, "kioskd status:", err)
		return statusNotRunning
	}
	code := statusCode(st)
	switch {
	case *check:
		fmt.Fprintln(stdout, checkLine(st, code))
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	default:
		fmt.Fprint(stdout, status.FormatText(st, time.Now()))
	}
	return code
}

// watchStatus is `kioskd status --watch`: a live line (or, with asJSON, a
// JSON object a line) on every change, with the whole session id, until
// Ctrl-C. A daemon that stops or restarts does not end it: it says so on
// stderr, reconnects with backoff, and says when it is back.
func watchStatus(path string, asJSON bool, stdout, stderr io.Writer) int {
	ctx, stop := signalContext()
	defer stop()
	r := status.NewRenderer(stdout, status.IsTerminal(stdout))
	r.WholeID = true
	away := false
	err := status.Follow(ctx, path, func(st status.Status) {
		if away {
			away = false
			_ = r.Finish()
			fmt.Fprintln(stderr, "kioskd status: reconnected to", path)
		}
		if asJSON {
			b, _ := json.Marshal(st)
			fmt.Fprintln(stdout, string(b))
			return
		}
		_ = r.Render(st)
	}, func(err error, retry time.Duration) {
		if away {
			return // said once per outage; the retries go on quietly
		}
		away = true
		_ = r.Finish()
		fmt.Fprintf(stderr, "kioskd status: %v; reconnecting (first retry in %v, then with backoff)\n", err, retry)
	})
	_ = r.Finish()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "kioskd status:", err)
		return exitFail
	}
	return exitOK
}
