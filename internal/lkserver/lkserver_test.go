//go:build livekit

package lkserver

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// binary is the server the tests run; like every livekit test this fails,
// not skips, without it.
func binary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(EnvServer)
	if bin == "" {
		bin = filepath.Join(CacheDir(), "server")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("livekit-server %s not found at %s (%v): run scripts/livekit-server.sh, or set %s to its path", Version, bin, err, EnvServer)
	}
	return bin
}

// TestStartAgainOnATakenPort: the ICE port found free is taken before the
// server binds it (as CI saw: another test's ICE agent on the host's other
// address); the server starts on another one and answers.
func TestStartAgainOnATakenPort(t *testing.T) {
	bin := binary(t)
	taken, err := net.ListenPacket("udp", ":0") // every address, as livekit-server binds
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.LocalAddr().(*net.UDPAddr).Port
	offered := 0
	freeUDP = func() (int, error) {
		offered++
		if offered == 1 {
			return takenPort, nil
		}
		return findFreeUDP()
	}
	t.Cleanup(func() { freeUDP = findFreeUDP })

	log := filepath.Join(t.TempDir(), "livekit-server.log")
	s, err := Start(context.Background(), bin, "", log)
	if err != nil {
		t.Fatalf("Start with the first ICE port taken: %v", err)
	}
	defer s.Kill()
	if offered < 2 || s.udpPort == takenPort {
		t.Fatalf("the server runs on the taken port %d (ports offered: %d)", s.udpPort, offered)
	}
	resp, err := http.Get(s.HTTPURL + "/")
	if err != nil {
		t.Fatalf("the started server does not answer: %v", err)
	}
	resp.Body.Close()

	// A restart keeps the signalling port (the kiosk's URL) and finds new
	// ICE ports when its own were taken meanwhile.
	port := s.Port
	s.Kill()
	taken2, err := net.ListenPacket("udp", net.JoinHostPort("", strconv.Itoa(s.udpPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer taken2.Close()
	if err := s.Restart(context.Background()); err != nil {
		t.Fatalf("Restart with its ICE port taken: %v", err)
	}
	if s.Port != port {
		t.Fatalf("Restart moved the signalling port from %d to %d", port, s.Port)
	}
	resp, err = http.Get(s.HTTPURL + "/")
	if err != nil {
		t.Fatalf("the restarted server does not answer: %v", err)
	}
	resp.Body.Close()
}

// TestStartReportsAnotherFailure: a server that cannot start for any other
// reason is not tried again; the error carries its log.
func TestStartReportsAnotherFailure(t *testing.T) {
	bin := binary(t)
	s, err := Start(context.Background(), bin, "not: [valid yaml\n", filepath.Join(t.TempDir(), "log"))
	if err == nil {
		s.Kill()
		t.Fatal("a server with a broken config started")
	}
	if !errors.Is(err, ErrExited) || collided(err) {
		t.Fatalf("a broken config was taken for a port collision: %v", err)
	}
}
