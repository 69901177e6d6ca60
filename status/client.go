package status

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Client errors.
var (
	// ErrNotRunning: nothing serves the status socket (no file, or nobody
	// listening). The error text names the socket path.
	ErrNotRunning = errors.New("kioskd is not running")
	// ErrDaemonClosed: the daemon ended a watch (it is stopping).
	ErrDaemonClosed = errors.New("kioskd closed the status connection")
	// ErrBadAnswer: what answered on the socket sent something that is not
	// JSON (not kioskd, or a kioskd speaking another protocol).
	ErrBadAnswer = errors.New("status: bad answer from kioskd")
)

// Follow's reconnect backoff: the first retry soon (a restart takes about
// a second), then doubling, never more than followMax apart.
const (
	followInitial = 250 * time.Millisecond
	followMax     = 4 * time.Second
)

// Follow is Watch across daemon restarts (`kioskd status --watch`): when
// the watch ends because the daemon stopped, restarted or is not running
// (yet), lost hears why and how long until the next try, and Follow dials
// again with backoff (250 ms doubling to 4 s, from the start again once a
// watch has delivered a status), until ctx is done (it returns
// ctx.Err()). A daemon that refuses the caller (permission) or answers
// something else than a status ends it with that error.
func Follow(ctx context.Context, socketPath string, fn func(Status), lost func(err error, retryIn time.Duration)) error {
	delay := followInitial
	for {
		got := false
		err := Watch(ctx, socketPath, func(st Status) { got = true; fn(st) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ErrBadAnswer) {
			return err
		}
		if got {
			delay = followInitial
		}
		if lost != nil {
			lost(err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, followMax)
	}
}

// maxLine bounds one status line from the daemon.
const maxLine = 64 << 10

// Query asks the daemon at socketPath for its current status.
func Query(ctx context.Context, socketPath string) (Status, error) {
	c, err := dial(ctx, socketPath)
	if err != nil {
		return Status{}, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, "status\n"); err != nil {
		return Status{}, ctxErr(ctx, fmt.Errorf("status: %s: %w", socketPath, err))
	}
	sc := newScanner(c)
	if !sc.Scan() {
		err := sc.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return Status{}, ctxErr(ctx, fmt.Errorf("status: %s: %w", socketPath, err))
	}
	return decode(sc.Bytes())
}

// Watch calls fn with the daemon's status now and on every change, until
// ctx is done (it returns ctx.Err()) or the daemon closes the connection
// (ErrDaemonClosed).
func Watch(ctx context.Context, socketPath string, fn func(Status)) error {
	c, err := dial(ctx, socketPath)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, "watch\n"); err != nil {
		return ctxErr(ctx, fmt.Errorf("status: %s: %w", socketPath, err))
	}
	sc := newScanner(c)
	for sc.Scan() {
		st, err := decode(sc.Bytes())
		if err != nil {
			return err
		}
		fn(st)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("status: %s: %w", socketPath, err)
	}
	return ErrDaemonClosed
}

func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	return sc
}

func decode(line []byte) (Status, error) {
	var w wire
	if err := json.Unmarshal(line, &w); err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	if w.Error != "" {
		return Status{}, fmt.Errorf("status: kioskd says: %s", w.Error)
	}
	return w.Status, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err == nil {
		return c, nil
	}
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("%w: no status socket answers at %s (start it with `systemctl start kioskd`, or pass the socket path from status.socket)", ErrNotRunning, path)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("status: permission denied on %s: run as root or as a member of the daemon's group: %w", path, err)
	}
	return nil, fmt.Errorf("status: %s: %w", path, err)
}
