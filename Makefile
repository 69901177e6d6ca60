# kioskd — see README.md. `make demo` and `make test` install what they need.
SHELL   := /bin/bash
GO       = $(shell scripts/go.sh path)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DATE ?= $(shell git log -1 --format=%cI 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/kioskd/kioskd/internal/version.Version=$(VERSION) -X github.com/kioskd/kioskd/internal/version.Commit=$(COMMIT) -X github.com/kioskd/kioskd/internal/version.BuildDate=$(BUILD_DATE)
DEMO_FOR ?= 60s
# Fuzz budgets as execution counts, about 10 s each here: a -fuzztime
# duration can end in a spurious "context deadline exceeded" failure with
# go1.26 (a race in the fuzzing coordinator, golang/go#75804, fixed in 1.27).
FUZZ_DECODE ?= 200000x
FUZZ_STORED ?= 100000x
FUZZ_CONFIG ?= 20000x
export CGO_ENABLED := 1
# mediadevices' Opus codec links a bundled static libopus unless built with
# the tag dynamic; that archive uses AVX unconditionally (SIGILL on a CPU
# without it, as in the VM test's qemu64) and, depending on link order,
# takes the place of Debian's libopus for av/opus too. With the tag, both
# link Debian's libopus (pkg-config), which picks its SIMD at run time.
export GOFLAGS := -tags=dynamic
# The livekit dialect is in every build; only its tests carry the tag
# livekit (their Digital Person participant uses LiveKit's Go SDK, which the
# kiosk must not link: internal/deptest). vet, staticcheck and the tests use it.
ALLTAGS := dynamic,livekit

.PHONY: all deps build demo test vet fuzz fuzz-long bench clean readme-check netlab netlab-rate-table

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/kioskd ./cmd/kioskd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dpsim ./cmd/dpsim

# The embedded demo: an in-process Digital Person server, synthetic media,
# console LEDs and a live progress line. DEMO_FOR=0 runs until Ctrl-C.
demo: build
	bin/kioskd demo --for $(DEMO_FOR)

# gofmt, go vet, staticcheck (pinned in tools/go.mod), and go.mod/go.sum
# exactly as `go mod tidy` leaves them.
vet: deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet -tags=$(ALLTAGS) ./...
	$(GO) mod tidy -diff
	$(GO) -C tools mod tidy -diff
	$(GO) build -C tools -o $(CURDIR)/bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	bin/staticcheck -tags=$(ALLTAGS) ./...

# Every test, with the race detector, over real WebSocket, real WebRTC and
# the real ALSA userspace on loopback; the README's commands
# (scripts/readme-check.sh); then each fuzz target briefly.
test: vet
	$(GO) test -race -count=1 -timeout 30m -tags=$(ALLTAGS) ./...
	scripts/readme-check.sh
	$(MAKE) --no-print-directory fuzz

# Runs the commands README.md shows and compares the shape of their output
# with the README's (about 20 s; no hardware needed).
readme-check: deps
	scripts/readme-check.sh

fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_DECODE) ./dpwire/
	$(GO) test -run '^$$' -fuzz '^FuzzParseStored$$' -fuzztime $(FUZZ_STORED) ./session/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZ_CONFIG) ./config/

# About 10 minutes each.
fuzz-long:
	$(MAKE) fuzz FUZZ_DECODE=12000000x FUZZ_STORED=6000000x FUZZ_CONFIG=1200000x

# The network lab (internal/netlab, root only): real kioskd, dpsim and
# coturn in network namespaces, scripted networks; one row per scenario.
# The LiveKit rows (build tag livekit) run livekit-server there too
# (scripts/livekit-server.sh builds it; without it they fail).
netlab: deps
	@$(GO) test -tags=$(ALLTAGS) -count=1 -v -timeout 15m -run '^(TestTURNWithUDPBlocked|TestSwitchInterface|TestMediaOutageWithSignalling|TestLiveKitSwitchInterface|TestLiveKitSwitchInterfaceWithSignalling|TestThinUplink|TestThinUplinkDelay|TestOutage|TestOutageDelay|TestLiveKitThinUplink|TestLiveKitThinUplinkDelay)$$' ./internal/netlab/ > bin/netlab.out 2>&1 || { cat bin/netlab.out; exit 1; }
	@printf '%-36s %-6s %-20s %s\n' scenario result "time" "detail"
	@echo "(time: to Connected; for the switch and the outage, from the switch or the link's return to media flowing again)"
	@grep -o 'NETLAB|.*' bin/netlab.out | awk -F'|' '{printf "%-36s %-6s %-20s %s\n", $$2, $$3, $$4, $$5}'
	@$(MAKE) --no-print-directory netlab-rate-table
	@grep -q -- '--- SKIP' bin/netlab.out && grep -A1 -- '--- SKIP' bin/netlab.out || true

# The congestion rows of make netlab (internal/netlab/rate_test.go), from
# bin/netlab.out: audio packets received, the dominant frequency, video
# frames per second and the longest freeze at dpsim, the RTT through the
# link over the idle link's, the time to audio after an outage, and
# kioskd's last estimate/video target in kbit/s.
netlab-rate-table:
	@echo
	@printf '%-50s %-8s %-7s %-6s %-7s %-8s %-9s %-9s %s\n' scenario audio tone fps "max gap" "RTT +" "audio back" "est/video" result
	@grep -o 'NETRATE|.*' bin/netlab.out | awk -F'|' '{printf "%-50s %-8s %-7s %-6s %-7s %-8s %-9s %-9s %s\n", $$2, $$3, $$4, $$5, $$6, $$7, $$8, $$9, $$10}'

clean:
	rm -rf bin dist

# Packaging (.deb), the VM system test and benchmarks bring their own targets.
-include packaging/*.mk vmtest/*.mk bench/*.mk
