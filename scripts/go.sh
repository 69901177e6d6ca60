#!/usr/bin/env bash
# Finds (or installs) the Go toolchain kioskd builds with.
#   scripts/go.sh path      print the go binary to use
#   scripts/go.sh install   make sure one exists
# Debian 12's golang-go is 1.19, too old for our modules; the exact
# toolchain named in go.mod is fetched as a module (golang.org/toolchain)
# through the Go module proxy, which is what `go` itself does for
# GOTOOLCHAIN switching, and unpacked under /usr/local/lib/kioskd-go.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^go [0-9]/{print $2; exit}' go.mod)
dest=/usr/local/lib/kioskd-go

version_ok() { # $1 = go binary
  local v
  v=$("$1" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$want" "$v" | sort -V | head -1)" = "$want" ]
}

find_go() {
  for g in "${GO:-}" "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go "$dest/bin/go"; do
    if [ -n "$g" ] && [ -x "$g" ] && GOTOOLCHAIN=local version_ok "$g"; then echo "$g"; return 0; fi
  done
  return 1
}

case "${1:-path}" in
path)
  find_go || { echo "no Go >= $want: run scripts/install-deps.sh" >&2; exit 1; } ;;
install)
  if find_go >/dev/null; then exit 0; fi
  boot=$(command -v go || true)
  if [ -z "$boot" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends golang-go >/dev/null
    boot=$(command -v go)
  fi
  arch=$(dpkg --print-architecture)
  mod="golang.org/toolchain@v0.0.1-go${want}.linux-${arch}"
  echo "go.sh: fetching Go ${want} (${mod}) through the module proxy"
  tmp=$(mktemp -d)
  out=$(cd "$tmp" && GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPATH="$tmp/gopath" "$boot" mod download -json "$mod" 2>&1) || true
  dir=$(printf '%s\n' "$out" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  if [ ! -d "$dir" ]; then
    echo "go.sh: could not fetch $mod through the Go module proxy ($("$boot" env GOPROXY)):" >&2
    printf '%s\n' "$out" | sed -n 's/.*"Error": "\(.*\)".*/  \1/p; /^go: /p' >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO rm -rf "$dest"
  $SUDO cp -r "$dir" "$dest"
  $SUDO chmod -R u+w,a+rX "$dest"
  $SUDO find "$dest/bin" "$dest/pkg/tool" -type f -exec chmod a+x {} +
  chmod -R u+w "$tmp"; rm -rf "$tmp"
  "$dest/bin/go" version ;;
*) echo "usage: $0 path|install" >&2; exit 2 ;;
esac
