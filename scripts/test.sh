#!/usr/bin/env bash
# Every test on a fresh Debian 12 machine: installs what it needs (Debian
# packages, Go), then `make test` (vet, all tests with -race over real
# WebSocket, real WebRTC and real ALSA userspace on loopback, fuzz briefly).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec make test
