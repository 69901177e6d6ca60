package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kioskd/kioskd/config"
	"github.com/kioskd/kioskd/internal/lkserver"
)

// `kioskd demo --dialect livekit`: the same demo on the livekit dialect,
// against a real livekit-server (--dev, loopback) and dpsim's LiveKit mode
// as the Digital Person. Both run as processes of their own: dpsim's
// LiveKit mode links LiveKit's Go SDK, which the kioskd binary must not
// (internal/deptest), so the demo finds the dpsim binary instead of
// linking it.

// The livekit-server the demo runs is lkserver's (the tests run the same).
const (
	liveKitServerVersion = lkserver.Version
	envLiveKitServer     = lkserver.EnvServer
	envDpsim             = "KIOSKD_DPSIM"
	// The --dev server's API key and secret: loopback only, no secret.
	liveKitDevKey, liveKitDevSecret = "devkey", "secret"
)

var errNotFound = errors.New("not found")

// findLiveKitServer is $KIOSKD_LIVEKIT_SERVER if set, else livekit-server
// on PATH, else scripts/livekit-server.sh's cache. looked says where it
// looked, for the message when there is none.
func findLiveKitServer() (path string, looked []string, err error) {
	if p := os.Getenv(envLiveKitServer); p != "" {
		if isExecutable(p) {
			return p, nil, nil
		}
		return "", []string{"$" + envLiveKitServer + " = " + p + " (not an executable file)"}, errNotFound
	}
	looked = append(looked, "$"+envLiveKitServer+" (unset)")
	if p, err := exec.LookPath("livekit-server"); err == nil {
		return p, nil, nil
	}
	looked = append(looked, "livekit-server on PATH")
	p := filepath.Join(liveKitCacheDir(), "server")
	if isExecutable(p) {
		return p, nil, nil
	}
	return "", append(looked, p), errNotFound
}

// liveKitCacheDir is where scripts/livekit-server.sh builds the server.
func liveKitCacheDir() string { return lkserver.CacheDir() }

// findDpsim is $KIOSKD_DPSIM if set, else dpsim beside this executable
// (bin/ of `make build`), else dpsim on PATH (the kioskd-dpsim package).
func findDpsim() (path string, looked []string, err error) {
	if p := os.Getenv(envDpsim); p != "" {
		if isExecutable(p) {
			return p, nil, nil
		}
		return "", []string{"$" + envDpsim + " = " + p + " (not an executable file)"}, errNotFound
	}
	looked = append(looked, "$"+envDpsim+" (unset)")
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "dpsim")
		if isExecutable(p) {
			return p, nil, nil
		}
		looked = append(looked, p)
	}
	if p, err := exec.LookPath("dpsim"); err == nil {
		return p, nil, nil
	}
	return "", append(looked, "dpsim on PATH"), errNotFound
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func runLiveKitDemo(o demoOptions, stdout, stderr io.Writer) int {
	lkBin, looked, err := findLiveKitServer()
	if err != nil {
		fmt.Fprintf(stderr, `kioskd demo: --dialect livekit needs livekit-server %[1]s, and there is none (looked at: %[2]s).
Get it with one of:
  scripts/livekit-server.sh    (in a kioskd checkout: builds it into %[3]s, about 5 minutes)
  GOBIN=%[3]s go install github.com/livekit/livekit-server/cmd/server@%[1]s
or set %[4]s to a livekit-server binary.
`, liveKitServerVersion, strings.Join(looked, ", "), liveKitCacheDir(), envLiveKitServer)
		return exitFail
	}
	dpsimBin, looked, err := findDpsim()
	if err != nil {
		fmt.Fprintf(stderr, "kioskd demo: --dialect livekit needs dpsim (its LiveKit mode is the Digital Person), and there is none (looked at: %s).\n"+
			"Install the kioskd-dpsim package, or build it with `make build` (bin/dpsim, beside bin/kioskd), or set %s to a dpsim binary.\n",
			strings.Join(looked, ", "), envDpsim)
		return exitFail
	}

	run, err := startDemoRun(o, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer run.stop()
	ctx, stdout, log, tracker := run.ctx, run.stdout, run.log, run.tracker
	dir, err := os.MkdirTemp("", "kioskd-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer os.RemoveAll(dir)

	lk, err := lkserver.Start(ctx, lkBin, "", filepath.Join(dir, "livekit-server.log"))
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer lk.Stop()
	var cred [16]byte
	_, _ = rand.Read(cred[:])
	credential := "demo-" + hex.EncodeToString(cred[:])
	dp, err := startDemoLiveKitDP(ctx, dpsimBin, lk.URL, credential, o.Verbose, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	defer dp.stop()

	cfg := demoConfig(o, dir)
	cfg.Server.Dialect = config.DialectLiveKit
	cfg.Server.URL = lk.URL
	cfg.Server.TokenEndpoint = dp.tokenEndpoint + "/token"
	if err := os.WriteFile(cfg.Server.TokenFile, []byte(credential), 0o600); err != nil {
		fmt.Fprintln(stderr, "kioskd demo:", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "kioskd demo: livekit-server --dev runs at %s; the Digital Person is dpsim's LiveKit mode (admin API %s/sessions), the tokens come from its token endpoint\n", lk.URL, dp.admin)
	fmt.Fprintf(stdout, "kioskd demo: camera %s, microphone %s, speaker %s; Ctrl-C ends it\n\n", o.Camera, o.Microphone, o.Speaker)
	ui := &demoUI{out: stdout,
		stageMsg:  "the Digital Person now leaves the room (the conversation ended): kioskd starts a fresh session in a new room",
		stageName: "the Digital Person left",
		stage:     func() error { return dp.post("/leave") },
		received:  dp.received,
	}
	return runDemoDaemon(ctx, cfg, log, tracker, ui, stdout, stderr)
}

// demoProc is a process the demo started, killed at its end.
type demoProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func (p *demoProc) stop() {
	// SIGTERM first (dpsim leaves its rooms); livekit-server drains for
	// ever on a first SIGTERM, so the kill after a grace period.
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

type demoDP struct {
	demoProc
	admin, tokenEndpoint string
}

// startDemoLiveKitDP runs `dpsim --livekit-url …` with its admin API and
// token endpoint on free loopback ports; the secret and the credential go
// by environment, never on the command line. It waits for dpsim's ready
// line; with verbose, dpsim's log goes on to stderr.
func startDemoLiveKitDP(ctx context.Context, bin, url, credential string, verbose bool, stderr io.Writer) (*demoDP, error) {
	cmd := exec.Command(bin, "--livekit-url", url, "--livekit-key", liveKitDevKey,
		"--admin", "127.0.0.1:0", "--token-endpoint", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), "DPSIM_LIVEKIT_SECRET="+liveKitDevSecret, "DPSIM_TOKEN="+credential)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	dp := &demoDP{demoProc: demoProc{cmd: cmd, exited: make(chan struct{})}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	ready := make(chan struct{})
	var tail []string
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		isReady := false
		for sc.Scan() {
			line := sc.Text()
			if !isReady {
				var rec map[string]any
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "dpsim ready (LiveKit mode)" {
					dp.admin, _ = rec["admin"].(string)
					dp.tokenEndpoint, _ = rec["token_endpoint"].(string)
					isReady = true
					close(ready)
					continue
				}
				tail = append(tail, line)
			}
			if verbose {
				fmt.Fprintln(stderr, "dpsim:", line)
			}
		}
		_ = cmd.Wait()
		close(dp.exited)
	}()
	select {
	case <-ready:
		return dp, nil
	case <-dp.exited:
		return nil, fmt.Errorf("dpsim exited at start:\n%s", strings.Join(tail, "\n"))
	case <-ctx.Done():
		dp.stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		dp.stop()
		return nil, errors.New("dpsim was not ready within 30 s")
	}
}

// post POSTs to the DP's admin API.
func (dp *demoDP) post(path string) error {
	resp, err := http.Post(dp.admin+path, "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}

// received is what the DP's admin API says it got from the kiosk in room id.
func (dp *demoDP) received(id string) (demoReceived, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(dp.admin + "/sessions")
	if err != nil {
		return demoReceived{}, false
	}
	defer resp.Body.Close()
	// The fields of dpsim/lkdp.RoomInfo the demo prints (cli links no
	// LiveKit SDK, so not the type itself).
	var rooms []struct {
		ID    string `json:"id"`
		Video struct {
			Frames        int64 `json:"frames"`
			Width, Height int
		} `json:"video"`
		Audio struct {
			Packets    int64   `json:"packets"`
			DominantHz float64 `json:"dominant_hz"`
		} `json:"audio"`
	}
	if json.NewDecoder(resp.Body).Decode(&rooms) != nil {
		return demoReceived{}, false
	}
	for _, r := range rooms {
		if r.ID == id {
			return demoReceived{Frames: r.Video.Frames, Width: r.Video.Width, Height: r.Video.Height,
				Packets: r.Audio.Packets, DominantHz: r.Audio.DominantHz}, true
		}
	}
	return demoReceived{}, false
}
