#!/usr/bin/env bash
# Every test on a fresh Debian 12 machine: installs what it needs (Debian
# packages, Go, livekit-server for the livekit dialect, promtool), then `make test` (vet, all tests with -race over real
# WebSocket, real WebRTC and real ALSA userspace on loopback, fuzz briefly).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The livekit dialect's tests run a real livekit-server: build it once (cached).
KIOSKD_LIVEKIT_SERVER=$(scripts/livekit-server.sh)
export KIOSKD_LIVEKIT_SERVER
# promtool (from Debian's prometheus package, without its server) checks a
# running kioskd's /metrics (cli's TestPromtoolChecksARealScrape).
KIOSKD_PROMTOOL=$(scripts/promtool.sh)
export KIOSKD_PROMTOOL
exec make test
