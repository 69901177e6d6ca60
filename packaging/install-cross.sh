#!/usr/bin/env bash
# Installs what the arm64 cgo cross build of kioskd needs on Debian 12
# (amd64 host): the aarch64 cross compiler and the arm64 -dev libraries
# through multiarch, plus qemu-user to run the result once.
#
# Idempotent: it adds the arm64 architecture only once and installs only
# the packages that are missing (apt-get update only when something is).
# It never removes or purges anything. Needs root (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

host=$(dpkg --print-architecture)
if [ "$host" = arm64 ]; then
  echo "install-cross: host is arm64, nothing to do (native build)"
  exit 0
fi

added=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "install-cross: dpkg --add-architecture arm64"
  $SUDO dpkg --add-architecture arm64
  added=1
fi

# The C libraries kioskd links: the -dev packages that the native build
# installs (scripts/install-deps.sh is the list the team keeps), as arm64.
devs=$(sed -n 's/^PKGS=(\(.*\))/\1/p' "$(dirname "$0")/../scripts/install-deps.sh" 2>/dev/null |
       tr ' ' '\n' | grep -- '-dev$' | grep -v '^libc6-dev$' || true)
[ -n "$devs" ] || devs="libvpx-dev libopus-dev libspeexdsp-dev libasound2-dev"
PKGS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross pkg-config qemu-user)
for d in $devs libasound2-dev; do PKGS+=("$d:arm64"); done

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ] && [ "$added" -eq 0 ]; then
  echo "install-cross: all present"
  exit 0
fi
# An update is needed after adding the architecture (no arm64 lists yet).
$SUDO apt-get update -qq
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-cross: installing ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-cross: done"
