package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// allTags are the build tags of the module's optional parts: dynamic
// (Debian's libopus), livekit (the livekit dialect).
const allTags = "dynamic,livekit"

// moduleGraph lists every package of the module and everything it
// depends on, as the build sees them (cgo on, this GOOS/GOARCH).
func moduleGraph(t *testing.T) Graph {
	t.Helper()
	root := moduleRoot(t)
	// With every optional part built in (allTags), so the layering holds
	// for each build of the module, not only the default one.
	cmd := exec.Command("go", "list", "-e", "-deps", "-tags="+allTags, "-json=ImportPath,Standard,Imports,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	g := Graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Package
			Error *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Fatalf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkg := p.Package
		g[p.ImportPath] = &pkg
	}
	return g
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// TestLayering: the module as it is obeys Layers and Rules, and every
// package has a layer.
func TestLayering(t *testing.T) {
	g := moduleGraph(t)
	for _, line := range Check(g, Layers, Rules) {
		t.Error(line)
	}
	// A layer naming a package that no longer exists is a stale table.
	for _, l := range Layers {
		for _, p := range l.Packages {
			if _, ok := g[Module+"/"+p]; !ok {
				t.Errorf("layer %q names %s, which is not a package of the module", l.Name, p)
			}
		}
	}
}

// TestContractReadersLinkNoPion says the "done when" in its own
// words: the LED, logging, systemd and status packages link no pion
// package, and dpsim links no kiosk client package.
func TestContractReadersLinkNoPion(t *testing.T) {
	g := moduleGraph(t)
	for _, p := range []string{"contract", "leds", "logging", "systemd", "status"} {
		var pion []string
		for _, d := range g.Deps(Module + "/" + p) {
			if strings.HasPrefix(d, "github.com/pion/") {
				pion = append(pion, d)
			}
		}
		if len(pion) > 0 {
			t.Errorf("%s links %d pion packages, among them %s", p, len(pion), pion[0])
		}
	}
	for _, d := range g.Deps(Module + "/dpsim") {
		if forbidden(d, client) {
			t.Errorf("dpsim links the client package %s", d)
		}
	}
}

// TestCheckCatchesViolations proves Check fails on each kind of forbidden
// import, on a small graph made up for it.
func TestCheckCatchesViolations(t *testing.T) {
	m := func(p string) string { return Module + "/" + p }
	layers := []Layer{
		{"low", []string{"contract"}},
		{"mid", []string{"leds", "media"}},
		{"high", []string{"session", "dpsim"}},
	}
	rules := []Rule{
		{Package: "contract", StdOnly: true, Why: "std only"},
		{Package: "leds", Forbid: []string{"github.com/pion/"}, Why: "no pion"},
		{Package: "dpsim", Forbid: []string{m("media")}, Why: "independent"},
	}
	g := Graph{
		"fmt":                           {ImportPath: "fmt", Standard: true},
		"github.com/pion/webrtc/v4":     {ImportPath: "github.com/pion/webrtc/v4"},
		"github.com/pion/webrtc/v4/sub": {ImportPath: "github.com/pion/webrtc/v4/sub"},
		m("contract"):                   {ImportPath: m("contract"), Imports: []string{"fmt", "gopkg.in/yaml.v3"}},
		"gopkg.in/yaml.v3":              {ImportPath: "gopkg.in/yaml.v3"},
		// leds reaches pion only through session: a transitive breach, and
		// a layer breach (mid imports high).
		m("leds"):    {ImportPath: m("leds"), Imports: []string{m("contract"), m("session")}},
		m("session"): {ImportPath: m("session"), Imports: []string{"github.com/pion/webrtc/v4", m("media")}},
		m("media"):   {ImportPath: m("media"), Imports: []string{m("contract"), m("leds")}},
		m("dpsim"):   {ImportPath: m("dpsim"), Imports: []string{m("session")}},
		m("stray"):   {ImportPath: m("stray")},
	}
	got := strings.Join(Check(g, layers, rules), "\n")
	for _, want := range []string{
		"contract depends on gopkg.in/yaml.v3: std only",
		`leds (layer "mid") imports session (layer "high")`,
		"leds depends on github.com/pion/webrtc/v4: no pion",
		`media (layer "mid") imports leds (layer "mid")`,
		"dpsim depends on " + m("media") + ": independent",
		"stray is in no layer",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Check missed %q; it said:\n%s", want, got)
		}
	}
	// And a clean graph passes.
	clean := Graph{
		"fmt":         {ImportPath: "fmt", Standard: true},
		m("contract"): {ImportPath: m("contract"), Imports: []string{"fmt", "C"}},
		m("media"):    {ImportPath: m("media"), Imports: []string{m("contract")}},
		m("leds"):     {ImportPath: m("leds"), Imports: []string{m("contract")}},
		m("session"):  {ImportPath: m("session"), Imports: []string{m("media")}},
		m("dpsim"):    {ImportPath: m("dpsim"), Imports: []string{m("contract")}},
	}
	if bad := Check(clean, layers, rules); len(bad) != 0 {
		t.Errorf("a clean graph: %q", bad)
	}
}

// TestShippedBinaryLinksNoLiveKitSDK: the kioskd that is built and shipped
// (make build, the .deb: no extra tags) has the livekit dialect and links
// no code of LiveKit's own modules: neither its Go SDK nor the generated
// protobuf package github.com/livekit/protocol/livekit, whose start-up
// alone raised every kiosk's steady PSS from 34 to 43.7 MiB, past the
// 40 MB target of docs/BEHAVIOUR.md section 14 (docs/LIVEKIT.md,
// "Measurements"), nor what they pull in (psrpc, nats, redis, grpc, cel).
// The tag livekit (the dialect's tests) changes nothing in cmd/kioskd.
func TestShippedBinaryLinksNoLiveKitSDK(t *testing.T) {
	root := moduleRoot(t)
	deps := func(tags string) string {
		cmd := exec.Command("go", "list", "-deps", "-tags="+tags, "./cmd/kioskd")
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags=%s: %v", tags, err)
		}
		return string(out)
	}
	for _, tags := range []string{"dynamic", allTags} {
		d := deps(tags)
		if !strings.Contains(d, Module+"/dialect/livekit\n") {
			t.Errorf("-tags=%s: cmd/kioskd does not link the livekit dialect", tags)
		}
		for _, bad := range []string{"github.com/livekit/", "github.com/nats-io/", "github.com/redis/", "google.golang.org/grpc", "github.com/google/cel-go", "go.uber.org/zap"} {
			if strings.Contains(d, bad) {
				t.Errorf("-tags=%s: cmd/kioskd links %s", tags, bad)
			}
		}
	}
}
