#!/usr/bin/env bash
# Finds (once, extracts) promtool, the checker of Prometheus' text format,
# for the test that pipes a running kioskd's /metrics into
# `promtool check metrics` (cli's TestPromtoolChecksARealScrape), and
# prints its path.
#   scripts/promtool.sh        extract if missing, print the path
# promtool comes from Debian 12's package `prometheus`. Installing that
# package would also enable and start a Prometheus server listening on
# every interface (:9090), which a build or test machine does not want, so
# this takes only promtool out of the package (apt-get download, dpkg-deb)
# into $KIOSKD_CACHE (default $HOME/.cache/kioskd), in a folder named after
# the package's version. KIOSKD_PROMTOOL, if set to an executable, is used
# as it is; so is a promtool already on the PATH.
set -euo pipefail
if [ -n "${KIOSKD_PROMTOOL:-}" ] && [ -x "$KIOSKD_PROMTOOL" ]; then
  echo "$KIOSKD_PROMTOOL"
  exit 0
fi
if p=$(command -v promtool 2>/dev/null); then
  echo "$p"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
version=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  $SUDO apt-get update -qq
  version=$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')
fi
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  echo "promtool: Debian's package prometheus is not available here" >&2
  exit 1
fi
cache=${KIOSKD_CACHE:-$HOME/.cache/kioskd}/promtool-${version//[^A-Za-z0-9.+~-]/_}
bin=$cache/promtool
if [ ! -x "$bin" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download writes into the current directory; _apt cannot write
  # a private temp dir, which apt only warns about.
  (cd "$tmp" && apt-get download -qq "prometheus=$version" 2>/dev/null) || (cd "$tmp" && apt-get download -qq "prometheus=$version")
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  mkdir -p "$cache"
  install -m 0755 "$tmp/root/usr/bin/promtool" "$bin"
  echo "promtool $version extracted into $cache" >&2
fi
"$bin" --version >/dev/null 2>&1 || { echo "promtool at $bin does not run" >&2; exit 1; }
echo "$bin"
