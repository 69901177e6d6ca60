#!/usr/bin/env bash
# CI entry of the VM system test (called from .ci/run): installs the host
# packages it needs, builds the .debs (`make deb`, packaging/), and runs the
# whole-system test in a Debian 12 VM (`make vmtest`). Exit 0 only if every
# check passed; the last line is "vmtest: N passed, M failed".
#
# The guest image is cached in /var/cache/kioskd-vmtest, keyed by a hash of
# its inputs: only the first run on a machine builds it (1-2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

vmtest/host-deps.sh
if [ -z "$(ls packaging/*.mk 2>/dev/null)" ] || ! make -n deb >/dev/null 2>&1; then
  echo "vmtest: FAIL: no 'make deb' target (packaging/*.mk): the VM system test installs the kioskd and kioskd-dpsim .debs and cannot run without them" >&2
  echo "vmtest: 0 passed, 1 failed"
  exit 1
fi
# `make vmtest` builds the amd64 .debs (deb-amd64) and tests exactly those.
make vmtest
