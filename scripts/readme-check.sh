#!/usr/bin/env bash
# Runs every command README.md marks with <!-- readme-check … --> against
# freshly built binaries and checks that the output still has the shape the
# README shows (scripts/readmecheck says how). Part of `make test`; about
# 20 s. Needs no hardware: the marked commands use the synthetic camera and
# microphone, console LEDs and loopback.
#   scripts/readme-check.sh          build bin/kioskd and bin/dpsim, then check
#   BIN=DIR scripts/readme-check.sh  check the binaries in DIR
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/go.sh path)
export GOFLAGS=${GOFLAGS:--tags=dynamic}
if [ -z "${BIN:-}" ]; then
  BIN=bin
  "$GO" build -trimpath -o bin/kioskd ./cmd/kioskd
  "$GO" build -trimpath -o bin/dpsim ./cmd/dpsim
fi
exec "$GO" run ./scripts/readmecheck -readme README.md -bin "$BIN"
