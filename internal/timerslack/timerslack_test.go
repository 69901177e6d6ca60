package timerslack

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Every thread inherits the slack set before the runtime started: the
// one running this test too.
func TestSlackInherited(t *testing.T) {
	if os.Getenv("KIOSKD_TIMERSLACK_NS") != "" {
		t.Skip("KIOSKD_TIMERSLACK_NS set")
	}
	if Applied() != SlackNS {
		t.Fatalf("Applied() = %v, want %v", Applied(), SlackNS)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	got, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != SlackNS {
		t.Fatalf("thread's timer slack %d ns, want %d", got, SlackNS)
	}
}
