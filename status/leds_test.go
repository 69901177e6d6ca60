package status

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/contract"
)

// fakeLEDs stands for the daemon's LED controller: it reports each call
// and plays until its context ends or play is closed.
type fakeLEDs struct {
	calls chan string
	play  chan struct{}
	ended chan error
}

func newFakeLEDs() *fakeLEDs {
	return &fakeLEDs{calls: make(chan string, 4), play: make(chan struct{}), ended: make(chan error, 4)}
}

func (f *fakeLEDs) show(ctx context.Context, what string, progress func(string)) error {
	f.calls <- what
	progress(what + " step 1")
	select {
	case <-ctx.Done():
		f.ended <- ctx.Err()
		return ctx.Err()
	case <-f.play:
		f.ended <- nil
		return nil
	}
}

func (f *fakeLEDs) Identify(ctx context.Context, d time.Duration, progress func(string)) error {
	if d > time.Hour {
		return errors.New("too long")
	}
	return f.show(ctx, "identify "+d.String(), progress)
}

func (f *fakeLEDs) LampTest(ctx context.Context, progress func(string)) error {
	return f.show(ctx, "lamp test", progress)
}

func TestLEDCommands(t *testing.T) {
	f := newFakeLEDs()
	snap := func() contract.Snapshot { return contract.Snapshot{} }
	path := socketPath(t)
	startServer(t, path, ServerOptions{Snapshot: snap, PollInterval: -1, LEDs: f})

	// Played through: each progress line, then nil.
	var got []string
	close(f.play)
	if err := LEDCommand(context.Background(), path, IdentifyCommand(30*time.Second), func(l string) { got = append(got, l) }); err != nil {
		t.Fatal(err)
	}
	if <-f.calls != "identify 30s" || strings.Join(got, "|") != "identify 30s step 1" {
		t.Fatalf("progress %q", got)
	}
	if err := LEDCommand(context.Background(), path, LampTestCommand, nil); err != nil || <-f.calls != "lamp test" {
		t.Fatalf("lamp test: %v", err)
	}

	// The controller's refusal and a bad duration come back as errors.
	for cmd, want := range map[string]string{"identify 2h": "too long", "identify soon": `bad duration "soon"`} {
		if err := LEDCommand(context.Background(), path, cmd, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cmd, err, want)
		}
	}
	<-f.ended
	<-f.ended
}

// TestLEDCommandHangUpEndsTheShow: a client that goes away (Ctrl-C) ends
// the show, so the LEDs go back to the state at once.
func TestLEDCommandHangUpEndsTheShow(t *testing.T) {
	f := newFakeLEDs()
	path := socketPath(t)
	startServer(t, path, ServerOptions{Snapshot: func() contract.Snapshot { return contract.Snapshot{} }, PollInterval: -1, LEDs: f})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- LEDCommand(ctx, path, LampTestCommand, func(string) { cancel() })
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	if err := <-f.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the show went on after the client hung up: %v", err)
	}
}

func TestLEDCommandWithoutLEDs(t *testing.T) {
	path := socketPath(t)
	startServer(t, path, ServerOptions{Snapshot: func() contract.Snapshot { return contract.Snapshot{} }, PollInterval: -1})
	if err := LEDCommand(context.Background(), path, LampTestCommand, nil); err == nil || !strings.Contains(err.Error(), ErrNoLEDs.Error()) {
		t.Fatalf("without LEDs: %v", err)
	}
	if err := LEDCommand(context.Background(), socketPath(t), LampTestCommand, nil); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("without a daemon: %v", err)
	}
}
