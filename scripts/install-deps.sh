#!/usr/bin/env bash
# Installs what building and testing kioskd needs on Debian 12 (bookworm):
# Debian's packages, and a Go toolchain if the machine has none new enough.
# Safe to run again: it installs only what is missing. Needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Build: cgo for libvpx (VP8), libopus (Opus), libspeexdsp (echo cancellation,
# noise suppression, gain) and the ALSA headers for malgo.
# Test: alsa-utils gives a real ALSA userspace with file PCMs, no sound card.
# Network lab (make netlab, internal/netlab): iproute2, nftables, iptables
# (iptables-legacy's NFQUEUE target feeds the lab's delay line: the kernel has
# no sch_netem and no nftables queue expression), and coturn (the real TURN
# server the tests run; its service is not enabled by this).
PKGS=(gcc libc6-dev make pkg-config git ca-certificates libvpx-dev libopus-dev libspeexdsp-dev libasound2-dev alsa-utils iproute2 nftables iptables coturn)
PKGS+=("$@")

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian enables and starts coturn.service on install: the network lab
  # runs its own turnserver inside a namespace, and a TURN server open on a
  # build machine serves nobody, so the one just installed is switched off.
  if [[ " ${missing[*]} " == *" coturn "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now coturn.service >/dev/null 2>&1 || true
  fi
fi

scripts/go.sh install
