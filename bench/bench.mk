# Benchmarks against the targets of docs/BEHAVIOUR.md section 14, the chaos run and a
# profiling build (included by the top Makefile). See bench/README.md.
#
#   make bench          the full run (~7 min): writes bench/results.json and the table in bench/README.md, then bench-aec
#                       and make netlab (one row per network-lab scenario, ~2 min, root only)
#   make bench-quick    CI smoke (~1 min): fewer runs, a 10 s steady state; writes bin/bench-quick.json
#   make bench-livekit  kioskd with server.dialect: livekit against a local livekit-server (~30 s):
#                       start → Connected and the steady PSS/CPU (bench/livekit_bench_test.go)
#   make bench-profile  CPU and heap profiles of a steady call into bench/profiles/ (kioskd-pprof)
#   make chaos          the long chaos runs, -race (~15 min): CHAOS_CUTS=250 random cuts after the
#                       36-cut sweep; the hostile-server table CHAOS_TABLE_ROUNDS=3 times in a random
#                       order with random timing; CHAOS_SHUTDOWN_RUNS=60 SIGTERMs at random moments
#                       of random hostile scenarios
#
# BENCH_FLAGS passes flags to kioskbench (e.g. BENCH_FLAGS='-only steady');
# CHAOS_SEED=N replays a chaos run (each test logs its seed).

.PHONY: bench bench-quick bench-bins bench-profile bench-livekit chaos

BENCH_FLAGS ?=
CHAOS_CUTS  ?= 250
CHAOS_TABLE_ROUNDS  ?= 3
CHAOS_SHUTDOWN_RUNS ?= 60

# kioskd as `make build` makes it (no -race), and the harness.
bench-bins:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/kioskd ./cmd/kioskd
	$(GO) build -trimpath -o bin/kioskbench ./bench/cmd/kioskbench

bench: bench-bins
	bin/kioskbench -kioskd bin/kioskd -out bench/results.json -readme bench/README.md $(BENCH_FLAGS)
	@echo; echo "Echo cancellation (make bench-aec):"
	@$(MAKE) --no-print-directory bench-aec
	@echo; echo "Network lab (make netlab; root only):"
	-@$(MAKE) --no-print-directory netlab
	@echo; echo "The livekit dialect against livekit-server (make bench-livekit):"
	@$(MAKE) --no-print-directory bench-livekit

# The server binary comes from scripts/livekit-server.sh (built once, cached).
bench-livekit: bench-bins
	set -o pipefail; KIOSKD_LIVEKIT_SERVER=$$(scripts/livekit-server.sh) KIOSKD_BENCH_BIN=$(CURDIR)/bin/kioskd \
		$(GO) test -tags=$(ALLTAGS) -run '^$$' -bench '^BenchmarkLiveKit$$' -benchtime 1x -count 1 ./bench/ 2>&1 | grep -v '^goos\|^goarch\|^pkg\|^cpu:\| pion\.'

bench-quick: bench-bins
	bin/kioskbench -quick -kioskd bin/kioskd -out bin/bench-quick.json $(BENCH_FLAGS)

bench-profile: bench-bins
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/kioskd-pprof ./bench/cmd/kioskd-pprof
	bin/kioskbench -only steady -steady 20s -kioskd bin/kioskd -pprof-kioskd bin/kioskd-pprof \
		-profile bench/profiles -profile-for 60s -out "" $(BENCH_FLAGS)
	$(GO) tool pprof -top -cum -nodecount 40 bin/kioskd-pprof bench/profiles/cpu.pprof

# The test binary is run directly so its summary shows on success too; it
# is also the kioskd the shutdown property starts (KIOSKD_TEST_MAIN).
chaos:
	$(GO) test -race -c -o bin/chaos.test ./chaos/
	cd chaos && CHAOS_CUTS=$(CHAOS_CUTS) CHAOS_TABLE_ROUNDS=$(CHAOS_TABLE_ROUNDS) CHAOS_SHUTDOWN_RUNS=$(CHAOS_SHUTDOWN_RUNS) \
		../bin/chaos.test -test.run '^(TestChaos|TestHostileTable|TestShutdownProperty)$$' -test.timeout 60m
