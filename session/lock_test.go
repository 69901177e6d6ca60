package session

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// One holder at a time; the second taker is told who holds it; the lock is
// free again after release.
func TestLockStateDir(t *testing.T) {
	dir := t.TempDir()
	release, err := LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Another open file description is another taker, as another process
	// would be.
	if _, err := LockStateDir(dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second taker: %v, want ErrLocked naming PID %d", err, os.Getpid())
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	release, err = LockStateDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release()
}

// TestLockHolder is the other process of TestLockGoesWithTheProcess.
func TestLockHolder(t *testing.T) {
	dir := os.Getenv("KIOSKD_LOCK_HOLDER_DIR")
	if dir == "" {
		t.Skip("run by TestLockGoesWithTheProcess")
	}
	if _, err := LockStateDir(dir); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	bufio.NewReader(os.Stdin).ReadString('\n') // until killed
}

// A holder killed with SIGKILL leaves the lock free: an flock goes with
// the process, however it ends.
func TestLockGoesWithTheProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolder$")
	cmd.Env = append(os.Environ(), "KIOSKD_LOCK_HOLDER_DIR="+dir)
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "locked\n" {
		t.Fatalf("holder said %q, %v", l, err)
	}
	if _, err := LockStateDir(dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("while held: %v, want ErrLocked naming PID %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	release, err := LockStateDir(dir)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	release()
}
