package netlab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kioskd/kioskd/internal/netlab"
)

// TestSwitchInterface is issue 15's "switch from one veth to another with
// a new address" scenario (item 2): a Wi-Fi to Ethernet move, a DHCP lease
// on a new network. The kiosk's namespace has three links to the Digital
// Person's:
//
//	sig  10.80.0.1 ── 10.80.0.2   signalling (TCP); UDP blocked on it, so
//	                              no media path uses it
//	A    10.81.0.1 ── 10.81.0.2   the media path at first
//	B    (none)    ── 10.82.0.2   up, no kiosk address yet
//
// Signalling runs over its own link, which the switch does not touch: the
// control socket survives, as it does when a kiosk's WebSocket rides a
// path that stays (a wired uplink while Wi-Fi media moves, or a server
// reached over both). Then the kiosk loses A (its address removed, the
// link down) and gets 10.82.0.5 on B. kioskd's netlink watcher sees the
// change, the call restarts ICE over the signalling channel, and media
// flows over B: dpsim's video frames and audio packets grow again within
// 3 s, with the same session id, one session at dpsim that never
// resumed, and no Disconnected in kioskd's log.
func TestSwitchInterface(t *testing.T) {
	bins := buildBinaries(t)
	sc := scenario{name: "switch A->B, new address"}
	dir := t.TempDir()
	lab := netlab.New(t)
	kiosk, dp := lab.Namespace("kiosk"), lab.Namespace("dp")
	sigK, _ := lab.Link(kiosk, "10.80.0.1/24", dp, "10.80.0.2/24")
	kiosk.BlockUDP(sigK)
	aK, _ := lab.Link(kiosk, "10.81.0.1/24", dp, "10.81.0.2/24")
	bK, _ := lab.Link(kiosk, "10.82.0.1/24", dp, "10.82.0.2/24")
	kiosk.MustRun("ip", "addr", "del", "10.82.0.1/24", "dev", bK)

	dpLog := startProcess(t, dp, filepath.Join(dir, "dpsim.log"), nil, bins.dpsim,
		"--listen", "10.80.0.2:8765", "--admin", "127.0.0.1:8766", "--log-format", "json")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := kiosk.WaitTCP(ctx, "10.80.0.2:8765"); err != nil {
		t.Fatalf("dpsim: %v\n%s", err, dpLog())
	}
	cfg := fmt.Sprintf(`server:
  url: ws://10.80.0.2:8765/v1/session
  token_file: ""
  allow_insecure: true
session:
  resume: true
  state_dir: %s
  connect_timeout: 30s
  step_timeout: 20s
media:
  camera: test
  microphone: test
  microphone_required: false
  speaker: none
status:
  socket: %s
`, filepath.Join(dir, "state"), filepath.Join(dir, "status.sock"))
	lines := make(chan map[string]any, 1024)
	kLog := startProcessLines(t, kiosk, filepath.Join(dir, "kioskd.log"), nil, lines,
		bins.kioskd, "run", "--config", writeFile(t, dir, "kioskd.yaml", cfg), "--log-format", "json")

	// Everything kioskd logs is kept; the test waits for lines by message.
	var seen []map[string]any
	waitLine := func(what string, match func(map[string]any) bool, within time.Duration) map[string]any {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kioskd exited waiting for %s\n%s", what, kLog())
				}
				seen = append(seen, l)
				if match(l) {
					return l
				}
			case <-deadline:
				result(t, sc, "FAIL", 0, "no "+what)
				t.Fatalf("no %s within %v\nkioskd:\n%s\ndpsim:\n%s", what, within, kLog(), dpLog())
			}
		}
	}
	msg := func(m string) func(map[string]any) bool {
		return func(l map[string]any) bool { return l["msg"] == m }
	}
	waitLine("media path", msg("media path"), 30*time.Second)
	sid := dpSessions(t, dp)[0].ID
	// Media over A first.
	before := dpSessions(t, dp)[0]
	for s := before; s.Video.Frames < before.Video.Frames+10; s = dpSessions(t, dp)[0] {
		pollPause(t, ctx)
	}

	// The switch: A gone, B with a new address.
	kiosk.MustRun("ip", "addr", "del", "10.81.0.1/24", "dev", aK)
	kiosk.MustRun("ip", "link", "set", aK, "down")
	kiosk.MustRun("ip", "addr", "add", "10.82.0.5/24", "dev", bK)
	switched := time.Now()
	base := dpSessions(t, dp)[0]

	// Media again: both counters grow past what came before the switch
	// (nothing can come over A any more: its address is gone).
	var back time.Duration
	for {
		s := dpSessions(t, dp)[0]
		if s.Video.Frames >= base.Video.Frames+5 && s.Audio.Packets >= base.Audio.Packets+25 {
			back = time.Since(switched)
			break
		}
		if time.Since(switched) > 10*time.Second {
			result(t, sc, "FAIL", time.Since(switched), "media not back")
			t.Fatalf("media not back 10 s after the switch: %+v (at the switch %+v)\nkioskd:\n%s\ndpsim:\n%s", s, base, kLog(), dpLog())
		}
		pollPause(t, ctx)
	}
	done := waitLine("the restart's end", msg("ICE restart: media path back"), 10*time.Second)
	pair := fmt.Sprint(done["ice_candidate_pair"])

	ss := dpSessions(t, dp)
	stats := dpStats(t, dp)
	var problems []string
	if back > 3*time.Second {
		problems = append(problems, fmt.Sprintf("media back after %v, more than 3 s", back))
	}
	if len(ss) != 1 || ss[0].ID != sid || ss[0].Connects != 1 || ss[0].Resumes != 0 || !ss[0].Connected {
		problems = append(problems, fmt.Sprintf("dpsim's sessions %+v: want %s only, Connected once, never resumed", ss, sid))
	}
	if stats.ICERestarts < 1 {
		problems = append(problems, "dpsim answered no ICE restart")
	}
	// Drain what kioskd has logged so far, then look at all of it.
	for drained := false; !drained; {
		select {
		case l, ok := <-lines:
			if !ok {
				drained = true
				break
			}
			seen = append(seen, l)
		default:
			drained = true
		}
	}
	changed := false
	for _, l := range seen {
		if st, _ := l["connection_state"].(string); st == "Disconnected" {
			problems = append(problems, fmt.Sprintf("kioskd logged Disconnected: %v", l))
		}
		if id, ok := l["session_id"].(string); ok && id != "" && id != sid {
			problems = append(problems, fmt.Sprintf("a line with another session id %s: %v", id, l))
		}
		if l["msg"] == "network changed" {
			changed = true
		}
	}
	if !changed {
		problems = append(problems, "kioskd logged no network change")
	}
	if len(problems) > 0 {
		result(t, sc, "FAIL", back, strings.Join(problems, "; "))
		t.Fatalf("%s\nkioskd:\n%s\ndpsim:\n%s", strings.Join(problems, "\n"), kLog(), dpLog())
	}
	result(t, sc, "PASS", back, fmt.Sprintf("media back; same session; restart took %vms; %s", done["took_ms"], pair))
}

// pollPause waits a tenth of a second between two reads of dpsim's
// counters: its admin API announces nothing, it is read.
func pollPause(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatal("the lab ran out of time")
	case <-time.After(100 * time.Millisecond):
	}
}

type dpSession struct {
	ID        string `json:"id"`
	Connected bool   `json:"connected"`
	Connects  int    `json:"connects"`
	Resumes   int    `json:"resumes"`
	Video     struct {
		Frames int64 `json:"frames"`
	} `json:"video"`
	Audio struct {
		Packets int64 `json:"packets"`
	} `json:"audio"`
}

type dpStatsDoc struct {
	ICERestarts int `json:"ice_restarts"`
}

func adminGet(t *testing.T, dp *netlab.NS, path string, into any) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: dp.DialContext}}
	resp, err := client.Get("http://127.0.0.1:8766" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}

func dpSessions(t *testing.T, dp *netlab.NS) []dpSession {
	t.Helper()
	var ss []dpSession
	adminGet(t, dp, "/sessions", &ss)
	if len(ss) == 0 {
		t.Fatal("dpsim has no session")
	}
	return ss
}

func dpStats(t *testing.T, dp *netlab.NS) dpStatsDoc {
	t.Helper()
	var s dpStatsDoc
	adminGet(t, dp, "/stats", &s)
	return s
}
