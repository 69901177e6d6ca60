#!/usr/bin/env bash
# The embedded demo on a fresh Debian 12 machine: installs what it needs
# (Debian packages, Go), builds kioskd and runs `kioskd demo`.
# DEMO_FOR=0 runs until Ctrl-C (default 60s).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec make demo DEMO_FOR="${DEMO_FOR:-60s}"
