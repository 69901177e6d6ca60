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

func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", stderr)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Bool("watch", false, "keep showing a live line until Ctrl-C")
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
		ctx, stop := signalContext()
		defer stop()
		r := status.NewRenderer(stdout, status.IsTerminal(stdout))
		err := status.Watch(ctx, path, func(st status.Status) {
			if *asJSON {
				b, _ := json.Marshal(st)
				fmt.Fprintln(stdout, string(b))
				return
			}
			_ = r.Render(st)
		})
		_ = r.Finish()
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "kioskd status:", err)
			return exitFail
		}
		return exitOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := status.Query(ctx, path)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd status:", err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
		return exitOK
	}
	fmt.Fprint(stdout, status.FormatText(st, time.Now()))
	return exitOK
}
