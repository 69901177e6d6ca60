// Package lkserver runs livekit-server --dev on free loopback ports: for
// `kioskd demo --dialect livekit` and for the tests (livekittest). It
// knows the process, its ports and its log, nothing of LiveKit's API.
//
// Free ports are found by binding port 0 and releasing it, so another
// process can take one before the server binds it, and livekit-server
// binds its ICE port on every address of the host, where pion agents of
// other processes bind random ports too. A start that fails with "address
// already in use" is therefore tried again on other ports (a bounded
// number of times): a collision is bad luck, not a broken server.
package lkserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// Version is the livekit-server the demo and the tests run (newer ones
	// do not build with the Go of this repository);
	// scripts/livekit-server.sh builds it.
	Version = "v1.13.5"
	// EnvServer names the variable that holds a server binary's path.
	EnvServer = "KIOSKD_LIVEKIT_SERVER"
)

// CacheDir is where scripts/livekit-server.sh builds the server:
// $KIOSKD_CACHE, else ~/.cache/kioskd, then livekit-server-<Version>.
func CacheDir() string {
	base := os.Getenv("KIOSKD_CACHE")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache", "kioskd")
	}
	return filepath.Join(base, "livekit-server-"+Version)
}

const (
	// attempts bounds the starts on other ports after a collision.
	attempts = 5
	// listenWithin bounds the wait for a started server to answer HTTP.
	listenWithin = 30 * time.Second
	// stopGrace is how long Stop waits after SIGINT before SIGKILL.
	stopGrace = 3 * time.Second
)

// ErrExited is a server process that ended while starting; the error
// carries its log.
var ErrExited = errors.New("livekit-server exited at start")

// Server is a running livekit-server --dev.
type Server struct {
	Port    int    // signalling (HTTP and WebSocket) on 127.0.0.1
	URL     string // ws://127.0.0.1:Port
	HTTPURL string // http://127.0.0.1:Port

	bin, extra, logPath string
	tcpPort, udpPort    int // ICE over TCP, and the one UDP port all its ICE runs on

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
}

// Start runs bin (livekit-server) with --dev on free loopback ports, extra
// YAML appended to its config (top-level keys other than port, rtc and
// logging, e.g. "room:\n  auto_create: false\n"), its output appended to
// logPath, and returns once it answers HTTP.
func Start(ctx context.Context, bin, extra, logPath string) (*Server, error) {
	s := &Server{bin: bin, extra: extra, logPath: logPath}
	var err error
	for range attempts {
		if s.Port, err = freeTCP(); err != nil {
			return nil, err
		}
		s.URL, s.HTTPURL = fmt.Sprintf("ws://127.0.0.1:%d", s.Port), fmt.Sprintf("http://127.0.0.1:%d", s.Port)
		if err = s.launchOnFreeICEPorts(ctx); err == nil || !collided(err) {
			return s, err
		}
	}
	return nil, err
}

// Restart kills the server (if it still runs) and starts a new one on the
// same signalling port, as a crashed server's supervisor would: its
// rooms, in memory in --dev, are gone. Its ICE ports are new when the old
// ones were taken meanwhile; they are announced in each join anyway.
func (s *Server) Restart(ctx context.Context) error {
	s.Kill()
	var err error
	for range attempts {
		if err = s.launch(ctx); err == nil || !collided(err) {
			return err
		}
		if s.tcpPort, err = freeTCP(); err != nil {
			return err
		}
		if s.udpPort, err = freeUDP(); err != nil {
			return err
		}
	}
	return err
}

func (s *Server) launchOnFreeICEPorts(ctx context.Context) error {
	var err error
	if s.tcpPort, err = freeTCP(); err != nil {
		return err
	}
	if s.udpPort, err = freeUDP(); err != nil {
		return err
	}
	return s.launch(ctx)
}

// collided is a start that failed because a port was taken.
func collided(err error) bool {
	return errors.Is(err, ErrExited) && strings.Contains(err.Error(), "address already in use")
}

// launch starts the process on s's ports and waits until it answers HTTP;
// a process that exits first is ErrExited with its log.
func (s *Server) launch(ctx context.Context) error {
	body := fmt.Sprintf("port: %d\nrtc:\n  tcp_port: %d\n  udp_port: %d\n  use_external_ip: false\nlogging:\n  level: warn\n",
		s.Port, s.tcpPort, s.udpPort) + s.extra
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	start, _ := logf.Seek(0, 2) // this attempt's part of the log
	cmd := exec.Command(s.bin, "--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1", "--config-body", body)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start livekit-server %s: %w", s.bin, err)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(exit) }()
	s.mu.Lock()
	s.cmd, s.exit = cmd, exit
	s.mu.Unlock()
	deadline := time.Now().Add(listenWithin)
	for {
		resp, err := http.Get(s.HTTPURL + "/")
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-exit:
			log, _ := os.ReadFile(s.logPath)
			if int64(len(log)) >= start {
				log = log[start:]
			}
			return fmt.Errorf("%w (%s):\n%s", ErrExited, s.bin, log)
		case <-ctx.Done():
			s.Kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling: the server signals nothing when it listens
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("livekit-server did not listen on %d within %s (log: %s)", s.Port, listenWithin, s.logPath)
		}
	}
}

// Kill stops the server at once (SIGKILL) and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exit
}

// Stop ends the server: SIGINT, then SIGKILL after a grace period
// (livekit-server drains for ever on a first SIGTERM).
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exit:
	case <-time.After(stopGrace):
		s.Kill()
	}
}

// Signal sends sig to the server process (SIGTERM: a first one drains, a
// second shuts down, sending SERVER_SHUTDOWN).
func (s *Server) Signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Signal(sig)
}

// Exited is closed when the current server process has ended.
func (s *Server) Exited() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exit
}

// The port finders; a test replaces freeUDP to provoke a collision.
var freeTCP, freeUDP = findFreeTCP, findFreeUDP

func findFreeTCP() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func findFreeUDP() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
