package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// LEDs is what the socket's staff commands drive: the daemon's LED
// controller (leds.Controller), which owns the lines while the daemon
// runs, so `kioskd leds identify` and `kioskd leds test` go through the
// daemon rather than open the lines themselves.
type LEDs interface {
	// Identify flashes every LED together for d, then shows the state again.
	Identify(ctx context.Context, d time.Duration, progress func(string)) error
	// LampTest shows every LED, pattern and error code in turn, then the state again.
	LampTest(ctx context.Context, progress func(string)) error
}

// The socket's LED commands. Each answers with one {"progress": line} per
// step as the LEDs begin to show it, then {"done": true}, or {"error": …}.
// The show ends early when the client hangs up.
const (
	cmdIdentify = "identify" // identify [DURATION]
	cmdLampTest = "lamp-test"
)

// ErrNoLEDs: the daemon serves the socket without an LED controller.
var ErrNoLEDs = errors.New("this kioskd drives no LEDs (leds.backend: none)")

// IdentifyCommand is the socket command for an identify of d.
func IdentifyCommand(d time.Duration) string { return cmdIdentify + " " + d.String() }

// LampTestCommand is the socket command for the lamp test.
const LampTestCommand = cmdLampTest

// ledReply is one line of an LED command's answer.
type ledReply struct {
	Progress string `json:"progress,omitempty"`
	Done     bool   `json:"done,omitempty"`
	Error    string `json:"error,omitempty"`
}

// isLEDCommand reports whether cmd is one of the LED commands.
func isLEDCommand(cmd string) bool {
	return cmd == cmdLampTest || cmd == cmdIdentify || strings.HasPrefix(cmd, cmdIdentify+" ")
}

// serveLEDs runs an LED command for the client on c until the show ends,
// the client hangs up or the server closes.
func (s *Server) serveLEDs(c net.Conn, cmd string) {
	send := func(r ledReply) bool {
		b, _ := json.Marshal(r)
		return s.write(c, append(b, '\n'))
	}
	if s.cfg.LEDs == nil {
		send(ledReply{Error: ErrNoLEDs.Error()})
		return
	}
	var run func(ctx context.Context, progress func(string)) error
	if cmd == cmdLampTest {
		run = s.cfg.LEDs.LampTest
	} else {
		arg := strings.TrimSpace(strings.TrimPrefix(cmd, cmdIdentify))
		d := time.Duration(0)
		if arg != "" {
			var err error
			if d, err = time.ParseDuration(arg); err != nil {
				send(ledReply{Error: fmt.Sprintf("identify: bad duration %q", arg)})
				return
			}
		}
		run = func(ctx context.Context, progress func(string)) error {
			return s.cfg.LEDs.Identify(ctx, d, progress)
		}
	}
	// The client sends nothing more; a read returns when it hangs up, and
	// that ends the show.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		cancel()
		close(gone)
	}()
	defer func() { c.Close(); <-gone }()
	go func() { // the server's Close ends the show too

		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.cfg.Logger.Info("LED show requested on the status socket", "command", cmd)
	err := run(ctx, func(line string) {
		if !send(ledReply{Progress: line}) {
			cancel()
		}
	})
	if err != nil {
		send(ledReply{Error: err.Error()})
		return
	}
	send(ledReply{Done: true})
}

// LEDCommand sends an LED command (IdentifyCommand, LampTestCommand) to
// the daemon at socketPath, calls progress with each line of the show, and
// returns when the show ends: nil when it played through. Cancelling ctx
// hangs up, which ends the show. Without a daemon it fails with an error
// wrapping ErrNotRunning.
func LEDCommand(ctx context.Context, socketPath, cmd string, progress func(string)) error {
	c, err := dial(ctx, socketPath)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return ctxErr(ctx, fmt.Errorf("status: %s: %w", socketPath, err))
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		var r ledReply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return fmt.Errorf("status: bad answer from kioskd: %w", err)
		}
		switch {
		case r.Error != "":
			return fmt.Errorf("kioskd says: %s", r.Error)
		case r.Done:
			return nil
		case progress != nil:
			progress(r.Progress)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("status: %s: %w", socketPath, err)
	}
	return ErrDaemonClosed
}
