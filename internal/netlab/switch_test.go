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
// on a new network. In the lab of mediaLab, the kiosk loses link A (its
// address removed, the link down) and gets 10.82.0.5 on B. kioskd's
// netlink watcher sees the change, the call restarts ICE over the
// signalling channel, and media flows over B: dpsim's video frames and
// audio packets grow again within 3 s, with the same session id, one
// session at dpsim that never resumed, and no Disconnected in kioskd's
// log.
func TestSwitchInterface(t *testing.T) {
	m := newMediaLab(t, scenario{name: "switch A->B, new address"})
	// The switch: A gone, B with a new address.
	m.kiosk.MustRun("ip", "addr", "del", "10.81.0.1/24", "dev", m.aK)
	m.kiosk.MustRun("ip", "link", "set", m.aK, "down")
	m.kiosk.MustRun("ip", "addr", "add", "10.82.0.5/24", "dev", m.bK)
	m.mediaBack(3*time.Second, "network changed", "")
}

// TestMediaOutageWithSignalling: the media link drops every packet for
// 4 s while the signalling link stays (a radio fade on the media path,
// a firewall's state lost): no netlink event, so it is pion's ICE
// disconnected timeout (3 s) that makes the call restart ICE while the
// control socket is alive (the second trigger of docs/BEHAVIOUR.md
// section 3b). Media flows again within 3 s of the link's return, same
// session, no Disconnected.
func TestMediaOutageWithSignalling(t *testing.T) {
	m := newMediaLab(t, scenario{name: "media link out 4 s, signalling up"})
	m.kiosk.Nft(fmt.Sprintf(`table inet netlab_outage {
	chain in { type filter hook input priority 0; iifname %q drop; }
	chain out { type filter hook output priority 0; oifname %q drop; }
}
`, m.aK, m.aK))
	select {
	case <-time.After(4 * time.Second): // the outage's length: what the scenario is
	case <-m.ctx.Done():
		t.Fatal("the lab ran out of time")
	}
	m.kiosk.MustRun("nft", "delete", "table", "inet", "netlab_outage")
	m.mediaBack(3*time.Second, "", "ICE disconnected")
}

// mediaLab is the lab of the two tests above: the kiosk's namespace has
// three links to the Digital Person's,
//
//	sig  10.80.0.1 ── 10.80.0.2   signalling (TCP); UDP blocked on it, so
//	                              no media path uses it
//	A    10.81.0.1 ── 10.81.0.2   the media path at first
//	B    (none)    ── 10.82.0.2   up, no kiosk address yet
//
// Signalling runs over its own link, which the scenarios do not touch: the
// control socket survives, as it does when a kiosk's WebSocket rides a
// path that stays (a wired uplink while Wi-Fi media moves, or a server
// reached over both).
type mediaLab struct {
	t           *testing.T
	sc          scenario
	ctx         context.Context
	kiosk, dp   *netlab.NS
	aK, bK      string
	sid         string
	lines       chan map[string]any
	seen        []map[string]any
	kLog, dpLog func() string
}

func newMediaLab(t *testing.T, sc scenario) *mediaLab {
	bins := buildBinaries(t)
	dir := t.TempDir()
	lab := netlab.New(t)
	m := &mediaLab{t: t, sc: sc, lines: make(chan map[string]any, 1024)}
	m.kiosk, m.dp = lab.Namespace("kiosk"), lab.Namespace("dp")
	sigK, _ := lab.Link(m.kiosk, "10.80.0.1/24", m.dp, "10.80.0.2/24")
	m.kiosk.BlockUDP(sigK)
	m.aK, _ = lab.Link(m.kiosk, "10.81.0.1/24", m.dp, "10.81.0.2/24")
	m.bK, _ = lab.Link(m.kiosk, "10.82.0.1/24", m.dp, "10.82.0.2/24")
	m.kiosk.MustRun("ip", "addr", "del", "10.82.0.1/24", "dev", m.bK)

	m.dpLog = startProcess(t, m.dp, filepath.Join(dir, "dpsim.log"), nil, bins.dpsim,
		"--listen", "10.80.0.2:8765", "--admin", "127.0.0.1:8766", "--log-format", "json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	m.ctx = ctx
	if err := m.kiosk.WaitTCP(ctx, "10.80.0.2:8765"); err != nil {
		t.Fatalf("dpsim: %v\n%s", err, m.dpLog())
	}
	m.kLog = startProcessLines(t, m.kiosk, filepath.Join(dir, "kioskd.log"), nil, m.lines,
		bins.kioskd, "run", "--config", labKioskConfig(t, dir, "10.80.0.2", "", true, false), "--log-format", "json")
	m.waitLine("media path", 30*time.Second)
	m.sid = swSessions(t, m.dp)[0].ID
	// Media over A first.
	before := swSessions(t, m.dp)[0]
	for s := before; s.Video.Frames < before.Video.Frames+10; s = swSessions(t, m.dp)[0] {
		pollPause(t, ctx)
	}
	return m
}

// waitLine reads kioskd's lines (keeping them all) until one with message msg.
func (m *mediaLab) waitLine(msg string, within time.Duration) map[string]any {
	m.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-m.lines:
			if !ok {
				m.t.Fatalf("kioskd exited waiting for %q\n%s", msg, m.kLog())
			}
			m.seen = append(m.seen, l)
			if l["msg"] == msg {
				return l
			}
		case <-deadline:
			result(m.t, m.sc, "FAIL", 0, "no "+msg)
			m.t.Fatalf("no %q within %v\nkioskd:\n%s\ndpsim:\n%s", msg, within, m.kLog(), m.dpLog())
		}
	}
}

// mediaBack checks what follows the scenario's event (just done): dpsim's
// video frames and audio packets grow again within bound, the restart's
// end is logged (and why it began, if want says), one session at dpsim,
// Connected once and never resumed, the same session id on every kioskd
// line, no Disconnected; and kioskd logged wantLine, if set.
func (m *mediaLab) mediaBack(bound time.Duration, wantLine, wantWhy string) {
	t := m.t
	t.Helper()
	event := time.Now()
	base := swSessions(t, m.dp)[0]
	var back time.Duration
	for {
		s := swSessions(t, m.dp)[0]
		if s.Video.Frames >= base.Video.Frames+5 && s.Audio.Packets >= base.Audio.Packets+25 {
			back = time.Since(event)
			break
		}
		if time.Since(event) > 10*time.Second {
			result(t, m.sc, "FAIL", time.Since(event), "media not back")
			t.Fatalf("media not back 10 s after the event: %+v (then %+v)\nkioskd:\n%s\ndpsim:\n%s", s, base, m.kLog(), m.dpLog())
		}
		pollPause(t, m.ctx)
	}
	done := m.waitLine("ICE restart: media path back", 10*time.Second)
	pair := fmt.Sprint(done["ice_candidate_pair"])

	ss := swSessions(t, m.dp)
	stats := dpsimStats(t, m.dp)
	var problems []string
	if back > bound {
		problems = append(problems, fmt.Sprintf("media back after %v, more than %v", back, bound))
	}
	if len(ss) != 1 || ss[0].ID != m.sid || ss[0].Connects != 1 || ss[0].Resumes != 0 || !ss[0].Connected {
		problems = append(problems, fmt.Sprintf("dpsim's sessions %+v: want %s only, Connected once, never resumed", ss, m.sid))
	}
	if stats.ICERestarts < 1 {
		problems = append(problems, "dpsim answered no ICE restart")
	}
	// What kioskd has logged so far, all of it.
	for drained := false; !drained; {
		select {
		case l, ok := <-m.lines:
			if ok {
				m.seen = append(m.seen, l)
			} else {
				drained = true
			}
		default:
			drained = true
		}
	}
	gotLine, gotWhy := wantLine == "", wantWhy == ""
	for _, l := range m.seen {
		if st, _ := l["connection_state"].(string); st == "Disconnected" {
			problems = append(problems, fmt.Sprintf("kioskd logged Disconnected: %v", l))
		}
		if id, ok := l["session_id"].(string); ok && id != "" && id != m.sid {
			problems = append(problems, fmt.Sprintf("a line with another session id %s: %v", id, l))
		}
		if l["msg"] == wantLine {
			gotLine = true
		}
		if l["msg"] == "restarting ICE" && l["why"] == wantWhy {
			gotWhy = true
		}
	}
	if !gotLine {
		problems = append(problems, "kioskd logged no "+wantLine)
	}
	if !gotWhy {
		problems = append(problems, "kioskd restarted ICE, but not for "+wantWhy)
	}
	// What a fleet sees of it: the repair counted, none failed.
	if n, err := metric(m.kiosk, `kioskd_media_path_restarts_total{result="recovered"}`); err != nil || n < 1 {
		problems = append(problems, fmt.Sprintf("kioskd_media_path_restarts_total{result=\"recovered\"} = %v (%v), want 1 or more", n, err))
	}
	if n, err := metric(m.kiosk, `kioskd_media_path_restarts_total{result="failed"}`); err != nil || n != 0 {
		problems = append(problems, fmt.Sprintf("kioskd_media_path_restarts_total{result=\"failed\"} = %v (%v), want 0", n, err))
	}
	if len(problems) > 0 {
		result(t, m.sc, "FAIL", back, strings.Join(problems, "; "))
		t.Fatalf("%s\nkioskd:\n%s\ndpsim:\n%s", strings.Join(problems, "\n"), m.kLog(), m.dpLog())
	}
	result(t, m.sc, "PASS", back, fmt.Sprintf("media back; same session, never Disconnected; restart took %vms; %s", done["took_ms"], pair))
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

type swSession struct {
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

func swSessions(t *testing.T, dp *netlab.NS) []swSession {
	t.Helper()
	var ss []swSession
	adminGet(t, dp, "/sessions", &ss)
	if len(ss) == 0 {
		t.Fatal("dpsim has no session")
	}
	return ss
}

func dpsimStats(t *testing.T, dp *netlab.NS) dpStatsDoc {
	t.Helper()
	var s dpStatsDoc
	adminGet(t, dp, "/stats", &s)
	return s
}
