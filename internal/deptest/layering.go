package deptest

import (
	"fmt"
	"sort"
	"strings"
)

// Module is kioskd's module path; the tables below name packages relative
// to it.
const Module = "github.com/kioskd/kioskd"

// Layers orders every package of the module, lowest first. A package may
// import module packages of lower layers only (never its own layer or a
// higher one), so the flow runs one way. A new package must be placed here
// (TestEveryPackageHasALayer), which is the moment to think about where it
// belongs. ARCHITECTURE.md describes the same layers in words.
var Layers = []Layer{
	{"vocabulary", []string{
		"contract",            // states, error names, reasons, events, the bus: standard library only
		"dpwire",              // kioskd.dp.v1's messages and codec
		"internal/clock",      // injected time
		"internal/version",    // the version set at link time
		"internal/identity",   // the kiosk id (hashed machine id) and host name
		"internal/timerslack", // process-wide timer slack (cgo, before the runtime)
		"internal/testlog",    // slog into t.Log
		"av/analysis",         // tone measurements
		"audio/audiotest",     // ALSA file-PCM configs for tests
		"chaos",               // a cutting TCP proxy for tests
		"bench",               // benchmark reports
		"vmtest/room",         // the VM test's acoustic room
		"internal/deptest",    // this table and its test
		"internal/netlab",     // network namespaces, veths, nftables for tests
		"internal/lkserver",   // a livekit-server --dev process (the demo, the tests)
	}},
	{"building blocks", []string{
		"config",                   // the YAML file, its names and defaults
		"internal/clock/clocktest", // a clock a test moves
		"av/opus", "av/vp8", "av/vp8enc", "av/synthetic",
		"audio/aec", // echo cancellation
		"hw",        // V4L2 cameras
		"netwatch",  // rtnetlink: the host's network changes, debounced
		"rtc",       // the pion API every call uses
	}},
	{"devices and reporters", []string{
		"audio",             // ALSA microphone and speaker
		"audio/aec/aectest", // a simulated room
		"hw/hwtest",         // a fake /dev
		"leds",              // status LEDs
		"logging",           // journald / text / JSON
		"systemd",           // sd_notify and the watchdog
		"status",            // the status socket and metrics
		"dialect",           // the boundary between the supervisor and a dialect
	}},
	{"dialects and engines", []string{
		"leds/ledstest",
		"dialect/dpv1",        // the client of kioskd.dp.v1
		"dialect/livekit",     // a LiveKit room: its signalling by hand, kioskd's own rtc engine
		"dialect/dialecttest", // a dialect a test drives by hand
		"session",             // the supervisor: reactions, backoff, persistence, deadlines
		"media",               // camera and microphone to tracks, the DP's tracks back
		"dpsim",               // the reference server: an independent implementation
	}},
	{"test helpers of engines", []string{
		"session/sessiontest",
		"media/mediatest",
		"dpsim/dptest",
		"dialect/livekit/livekittest", // livekit-server and a Digital Person participant
		"dpsim/lkdp",                  // dpsim's LiveKit mode: a DP participant (LiveKit's Go SDK)
	}},
	{"composition root", []string{
		"daemon", // wires devices, session and every reporter
	}},
	{"command line", []string{
		"cli", // parses flags and calls daemon
	}},
	{"binaries", []string{
		"cmd/kioskd", "cmd/dpsim",
		"bench/cmd/kioskbench", "bench/cmd/kioskd-pprof",
		"scripts/readmecheck", // runs README.md's commands (scripts/readme-check.sh)
	}},
}

// Layer is a named set of packages.
type Layer struct {
	Name     string
	Packages []string
}

// Rule forbids packages, anywhere in the transitive dependencies of a
// package, whose import path starts with one of the prefixes. Rules say
// what the layers alone cannot: which third-party code a package may pull
// in, and which module packages must stay out of it even indirectly.
type Rule struct {
	Package string   // relative to Module
	Forbid  []string // import path prefixes ("" entries are not allowed)
	StdOnly bool     // no package outside the standard library at all
	Why     string
}

// client is every package of the kiosk's own side: what dpsim, an
// independent implementation of docs/PROTOCOL.md, must not share.
var client = []string{
	Module + "/media", Module + "/session", Module + "/hw", Module + "/audio",
	Module + "/dialect", Module + "/daemon", Module + "/cli", Module + "/leds",
	Module + "/logging", Module + "/systemd", Module + "/status", Module + "/config",
}

// Rules are the transitive constraints.
var Rules = []Rule{
	{Package: "contract", StdOnly: true,
		Why: "the contract is the vocabulary everything reads: the standard library only"},
	{Package: "internal/lkserver", StdOnly: true,
		Why: "kioskd demo links it: running livekit-server is a process, not LiveKit's modules"},
	{Package: "dpwire", StdOnly: true,
		Why: "the wire format is shared by the client and dpsim: the standard library only"},
	{Package: "leds", Forbid: []string{"github.com/pion/", "github.com/livekit/", Module + "/session", Module + "/dialect"},
		Why: "LEDs read the contract, never the WebRTC engine"},
	{Package: "logging", Forbid: []string{"github.com/pion/", "github.com/livekit/", Module + "/session", Module + "/dialect"},
		Why: "logs read the contract, never the WebRTC engine"},
	{Package: "systemd", Forbid: []string{"github.com/pion/", "github.com/livekit/", Module + "/session", Module + "/dialect"},
		Why: "systemd reporting reads the contract, never the WebRTC engine"},
	{Package: "status", Forbid: []string{"github.com/pion/", "github.com/livekit/", Module + "/session", Module + "/dialect"},
		Why: "the status socket and metrics read the contract, never the WebRTC engine"},
	{Package: "config", Forbid: []string{"github.com/pion/"},
		Why: "config is read before anything else starts"},
	{Package: "media", Forbid: []string{Module + "/session", Module + "/dialect"},
		Why: "media serves any call through dialect-neutral interfaces the session declares; it does not drive sessions"},
	{Package: "session", Forbid: []string{Module + "/dialect/dpv1", Module + "/dialect/livekit", "github.com/livekit/", Module + "/media", Module + "/hw", Module + "/audio"},
		Why: "the supervisor drives any dialect and any media through interfaces"},
	{Package: "dialect", Forbid: []string{Module + "/session"},
		Why: "the boundary is below the supervisor"},
	{Package: "dialect/dpv1", Forbid: []string{Module + "/session", Module + "/media", Module + "/dpsim"},
		Why: "a dialect knows its protocol, not the supervisor, the devices or the reference server"},
	{Package: "dialect/livekit", Forbid: []string{Module + "/session", Module + "/media", Module + "/dpsim", Module + "/dialect/dpv1", "github.com/livekit/"},
		Why: "a dialect knows its protocol, not the supervisor, the devices, the reference server or another dialect; and LiveKit's own modules (SDK, generated protobuf) cost every kiosk ~10 MB of PSS (docs/LIVEKIT.md)"},
	{Package: "daemon", Forbid: []string{Module + "/dpsim"},
		Why: "kioskd run never reaches the reference server's scenarios and admin API: only `kioskd demo` (cli) starts dpsim"},
	{Package: "dpsim", Forbid: client,
		Why: "dpsim is a second, independent implementation of docs/PROTOCOL.md"},
	{Package: "dpsim", Forbid: []string{"github.com/livekit/", Module + "/dpsim/lkdp"},
		Why: "`kioskd demo` links dpsim: its LiveKit mode (dpsim/lkdp, LiveKit's SDK) is cmd/dpsim's alone"},
	{Package: "dpsim/lkdp", Forbid: client,
		Why: "dpsim's LiveKit mode is a second, independent LiveKit client: it checks kioskd's, not itself"},
	{Package: "cmd/dpsim", Forbid: client,
		Why: "the reference server's binary carries no kiosk code"},
}

// Package is what the checks need of `go list -json`.
type Package struct {
	ImportPath string
	Standard   bool
	Imports    []string
}

// Graph is a set of packages by import path.
type Graph map[string]*Package

// Deps returns every package path reachable from path (not path itself),
// sorted.
func (g Graph) Deps(path string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		pkg, ok := g[p]
		if !ok {
			return
		}
		for _, imp := range pkg.Imports {
			if !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(path)
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Check returns one line per violation of layers and rules in g, whose
// module packages are the ones under Module. A module package missing
// from layers is a violation too.
func Check(g Graph, layers []Layer, rules []Rule) []string {
	layerOf := map[string]int{}
	for i, l := range layers {
		for _, p := range l.Packages {
			layerOf[Module+"/"+p] = i
		}
	}
	var bad []string
	var paths []string
	for p := range g {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !inModule(p) {
			continue
		}
		li, ok := layerOf[p]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s is in no layer: place it in deptest.Layers", rel(p)))
			continue
		}
		for _, imp := range g[p].Imports {
			if !inModule(imp) {
				continue
			}
			lj, ok := layerOf[imp]
			if ok && lj >= li {
				bad = append(bad, fmt.Sprintf("%s (layer %q) imports %s (layer %q): imports run from higher layers to lower ones only",
					rel(p), layers[li].Name, rel(imp), layers[lj].Name))
			}
		}
	}
	for _, r := range rules {
		p := Module + "/" + r.Package
		if _, ok := g[p]; !ok {
			bad = append(bad, fmt.Sprintf("rule for %s: no such package", r.Package))
			continue
		}
		var hits []string
		for _, d := range g.Deps(p) {
			if r.StdOnly && !isStd(g, d) || forbidden(d, r.Forbid) {
				hits = append(hits, d)
			}
		}
		switch {
		case len(hits) == 1:
			bad = append(bad, fmt.Sprintf("%s depends on %s: %s", r.Package, hits[0], r.Why))
		case len(hits) > 1:
			shown := hits
			if len(shown) > 3 {
				shown = shown[:3]
			}
			bad = append(bad, fmt.Sprintf("%s depends on %d forbidden packages (%s, ...): %s", r.Package, len(hits), strings.Join(shown, ", "), r.Why))
		}
	}
	return bad
}

// forbidden reports whether path is one of prefixes or below one of them.
func forbidden(path string, prefixes []string) bool {
	for _, f := range prefixes {
		f = strings.TrimSuffix(f, "/")
		if f != "" && (path == f || strings.HasPrefix(path, f+"/")) {
			return true
		}
	}
	return false
}

func inModule(p string) bool { return strings.HasPrefix(p, Module+"/") }

func rel(p string) string { return strings.TrimPrefix(p, Module+"/") }

// isStd: go list marks standard packages; "C" (cgo) counts as the
// standard library here.
func isStd(g Graph, p string) bool {
	if p == "C" {
		return true
	}
	if pkg, ok := g[p]; ok {
		return pkg.Standard
	}
	return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".")
}
