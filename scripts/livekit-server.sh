#!/usr/bin/env bash
# Builds (once) or reuses the livekit-server the livekit dialect's tests run
# (dialect/livekit/livekittest), and prints the binary's path.
#   scripts/livekit-server.sh        build if missing, print the path
# The binary is cached in $KIOSKD_CACHE (default $HOME/.cache/kioskd), in a
# folder named after the version; v1.13.5 is the newest that builds with
# the Go of go.mod (v1.13.7 and later do not). Building takes about 5
# minutes on 2 cores. KIOSKD_LIVEKIT_SERVER, if set to an executable, is
# used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.13.5
if [ -n "${KIOSKD_LIVEKIT_SERVER:-}" ] && [ -x "$KIOSKD_LIVEKIT_SERVER" ]; then
  echo "$KIOSKD_LIVEKIT_SERVER"
  exit 0
fi
cache=${KIOSKD_CACHE:-$HOME/.cache/kioskd}/livekit-server-$version
bin=$cache/server
if [ ! -x "$bin" ]; then
  go=$(scripts/go.sh path)
  mkdir -p "$cache"
  echo "building livekit-server $version into $cache (about 5 minutes)" >&2
  # Outside the module, so that its go.mod is not touched.
  (cd "$cache" && GOTOOLCHAIN=local GOBIN="$cache" GOFLAGS=-mod=mod "$go" install "github.com/livekit/livekit-server/cmd/server@$version") >&2
fi
"$bin" --version >/dev/null 2>&1 || { echo "livekit-server at $bin does not run" >&2; exit 1; }
echo "$bin"
