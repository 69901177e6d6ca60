#!/usr/bin/env bash
# Host side of the VM system test: builds or reuses the guest image, puts the
# software under test and the test script on a 9p share, boots the VM (TCG,
# no network), lets the guest's test unit run the checks and power off, then
# prints the checks and a summary. Exit 0 only if every check passed.
#
#   vmtest/run.sh                      the .debs from `make deb` (dist/)
#   VMTEST_FROM=bin vmtest/run.sh      plain binaries bin/kioskd, bin/dpsim and
#                                      vmtest/plumbing/kioskd.service (plumbing
#                                      only: NOT the shipped unit)
#   VMTEST_SCRIPT=smoke vmtest/run.sh  the trivial plumbing check instead
#
# Environment:
#   VMTEST_DEBS      directory with kioskd_*.deb and kioskd-dpsim_*.deb (default dist/)
#   VMTEST_VERSION   version of the .debs to pick (default, or if there is no
#                    such file: the most recently built ones there)
#   VMTEST_SCRIPT    system (default) | smoke | a path to a guest script
#   VMTEST_OUT       where the run's files go (default vmtest/.cache/run)
#   VMTEST_TIMEOUT   seconds the VM may run (default 1800: the system checks and the fleet checks take 12-20 min under TCG)
#   VMTEST_CACHE, VMTEST_REBUILD, VMTEST_APT_SOURCES: see image/build.sh
#   VMTEST_VERBOSE=1 show the whole serial console live
#   VMTEST_UNIT_DROPIN=FILE  experiment: install FILE as a drop-in of
#                    kioskd.service (the results say so in a FAIL line)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
cd "$top"

FROM=${VMTEST_FROM:-deb}
SCRIPT=${VMTEST_SCRIPT:-system}
OUT=${VMTEST_OUT:-$here/.cache/run}
TIMEOUT=${VMTEST_TIMEOUT:-1800}
t0=$SECONDS

log() { echo "vmtest: $*" >&2; }
die() { log "error: $*"; exit 1; }

case "$SCRIPT" in
  system|smoke) script="$here/tests/$SCRIPT.sh" ;;
  *) script=$SCRIPT ;;
esac
[ -f "$script" ] || die "no guest script $script"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: run vmtest/host-deps.sh"

rm -rf "$OUT"
mkdir -p "$OUT/share/in/payload" "$OUT/share/out"
payload="$OUT/share/in/payload"

# The software under test.
extra_pkgs=()
case "$FROM" in
deb)
  dir=${VMTEST_DEBS:-$top/dist}
  pick() { # $1 = package name: ${1}_$VMTEST_VERSION_amd64.deb, else the newest built
    local f="$dir/${1}_${VMTEST_VERSION:-}_amd64.deb"
    if [ -n "${VMTEST_VERSION:-}" ] && [ -f "$f" ]; then echo "$f"; return; fi
    ls -1t "$dir/${1}"_*_amd64.deb 2>/dev/null | head -1
  }
  kdeb=$(pick kioskd); ddeb=$(pick kioskd-dpsim)
  [ -n "$kdeb" ] || die "no kioskd_*_amd64.deb in $dir: build it with 'make deb' (packaging/), or use VMTEST_FROM=bin for the plumbing"
  [ -n "$ddeb" ] || die "no kioskd-dpsim_*_amd64.deb in $dir: 'make deb' should build it beside kioskd"
  cp "$kdeb" "$ddeb" "$payload/"
  for d in "$payload"/*.deb; do
    dpkg-deb --fsys-tarfile "$d" >/dev/null 2>"$OUT/deb-check.txt" \
      || die "$(basename "$d") is not a whole .deb ($(head -1 "$OUT/deb-check.txt")); was it being rebuilt?"
  done
  log "testing $(basename "$kdeb") and $(basename "$ddeb")"
  # Their dependencies go into the image (the guest has no network).
  for d in "$payload"/*.deb; do
    for f in Pre-Depends Depends; do
      dpkg-deb -f "$d" "$f" | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g'
    done
  done | sed '/^$/d' | grep -vx -e kioskd -e kioskd-dpsim | sort -u >"$OUT/deb-depends.txt" || true
  mapfile -t extra_pkgs <"$OUT/deb-depends.txt"
  ;;
bin)
  for b in kioskd dpsim; do
    [ -x "$top/bin/$b" ] || die "no bin/$b: run 'make build' (or go build -o bin/ ./cmd/kioskd ./cmd/dpsim)"
    cp "$top/bin/$b" "$payload/"
  done
  cp "$here/plumbing/kioskd.service" "$payload/"
  # The shared libraries they link go into the image (what a .deb's
  # Depends would say).
  for lib in $(ldd "$top/bin/kioskd" "$top/bin/dpsim" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
    for p in "$lib" "$(readlink -f "$lib")" "/usr$lib" "/usr$(readlink -f "$lib")"; do
      pkg=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1)
      [ -n "$pkg" ] && { echo "$pkg"; break; }
    done
  done | grep -vx -e libc6 | sort -u >"$OUT/deb-depends.txt" || true
  mapfile -t extra_pkgs <"$OUT/deb-depends.txt"
  log "PLUMBING MODE: bin/kioskd, bin/dpsim and vmtest/plumbing/kioskd.service (not the shipped .deb/unit)"
  ;;
*) die "VMTEST_FROM=$FROM: want deb or bin" ;;
esac

# An experiment on the shipped unit: a drop-in installed after the .deb
# (announced in the results, so that such a run is never taken for the real one).
if [ -n "${VMTEST_UNIT_DROPIN:-}" ]; then
  cp "$VMTEST_UNIT_DROPIN" "$OUT/share/in/unit-dropin.conf"
  log "EXPERIMENT: drop-in $VMTEST_UNIT_DROPIN applied to kioskd.service"
fi
# The acoustic room of the echo checks (vmtest/room: a test tool, not
# shipped), static so that it runs in the guest whatever its libc.
go=${GO:-$("$top/scripts/go.sh" path)} || die "no Go to build vmtest/room: run scripts/install-deps.sh"
mkdir -p "$OUT/share/in/tools"
CGO_ENABLED=0 "$go" build -trimpath -o "$OUT/share/in/tools/room" ./vmtest/room || die "building vmtest/room failed"
cp "$script" "$OUT/share/in/guest-main.sh"
chmod +x "$OUT/share/in/guest-main.sh"
cp "$here/tests/lib.sh" "$OUT/share/in/" 2>/dev/null || true
# The fleet checks (issue 16), sourced by system.sh with kioskd Connected.
cp "$here"/tests/fleet-*.sh "$OUT/share/in/" 2>/dev/null || true
echo "$FROM" >"$OUT/share/in/mode"

# The image (cached).
timg=$SECONDS
img=$("$here/image/build.sh" "${extra_pkgs[@]}" | tail -1)
[ -f "$img/disk.img" ] || die "image build gave no disk"
image_s=$((SECONDS - timg))

# Boot. The disk is a snapshot (writes go to a temporary overlay), so the
# cached image stays clean. No network at all: dpsim runs in the guest on
# 127.0.0.1.
log "booting $(basename "$img") (kernel $(cat "$img/kver")); serial console in $OUT/console.log"
tboot=$SECONDS
: >"$OUT/console.log"
set +e
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -cpu qemu64 -m 2048 -smp 2 \
  -display none -monitor none -serial "file:$OUT/console.log" \
  -no-reboot -nic none \
  -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
  -append "root=/dev/vda rw rootfstype=ext4 console=ttyS0,115200 quiet loglevel=4 panic=-1 systemd.show_status=error net.ifnames=0 vmtest=1 ${VMTEST_KERNEL_ARGS:-}" \
  -drive "file=$img/disk.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$OUT/share,mount_tag=vmtest,security_model=none,id=vmtest" \
  -device virtio-rng-pci \
  </dev/null >"$OUT/qemu.log" 2>&1 &
qpid=$!
# Live progress: the guest's test lines from the console as they come.
if [ -n "${VMTEST_VERBOSE:-}" ]; then
  tail -n +1 -f --pid="$qpid" "$OUT/console.log" &
else
  tail -n +1 -f --pid="$qpid" "$OUT/console.log" \
    | grep --line-buffered -aE '(PASS|FAIL|SKIP|INFO|vmtest-guest|Kernel panic)' \
    | sed -u 's/^\[[^]]*\] [^:]*\[[0-9]*\]: //' &
fi
tailpid=$!
# The guest powers off after writing out/rc; should it hang on the way, do
# not wait for the timeout.
( while kill -0 "$qpid" 2>/dev/null; do
    if [ -f "$OUT/share/out/rc" ]; then
      for _ in $(seq 60); do kill -0 "$qpid" 2>/dev/null || exit 0; sleep 1; done
      echo "vmtest: the guest finished but did not power off within 60 s; stopping qemu" >&2
      kill "$qpid" 2>/dev/null; exit 0   # timeout passes it on to qemu
    fi
    sleep 2
  done ) &
watchpid=$!
wait "$qpid"; qrc=$?
kill "$watchpid" 2>/dev/null; wait "$watchpid" 2>/dev/null
wait "$tailpid" 2>/dev/null
set -e
vm_s=$((SECONDS - tboot))
[ "$qrc" -eq 0 ] || log "qemu exited with $qrc$([ "$qrc" -eq 124 ] && echo " (timeout after ${TIMEOUT}s)")"
[ -s "$OUT/qemu.log" ] && sed 's/^/qemu: /' "$OUT/qemu.log" >&2

# Results.
res="$OUT/share/out/results.txt"
pass=0; fail=0
[ -f "$res" ] && { pass=$(grep -c '^PASS' "$res" || true); fail=$(grep -c '^FAIL' "$res" || true); }
grc=$(cat "$OUT/share/out/rc" 2>/dev/null || echo none)
boot=$(sed -n 's/.*vmtest-guest: up \([0-9.]*s\).*/\1/p' "$OUT/console.log" | head -1)
echo
echo "==== vmtest results ($FROM, $(basename "$script")) ===="
[ -f "$res" ] && cat "$res"
problem=""
if [ "$grc" = none ]; then
  problem="the guest never finished (no exit code): see $OUT/console.log"
  fail=$((fail + 1))
elif [ "$grc" != 0 ]; then
  problem="the guest script exited $grc"
  [ "$fail" -gt 0 ] || fail=$((fail + 1))
elif [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then
  problem="no check ran"
  fail=1
fi
if [ -n "$problem" ]; then
  echo "FAIL vmtest: $problem"
  echo "---- last lines of the serial console ----"
  tail -n 40 "$OUT/console.log" | tr -d '\r'
fi
echo "---- times: image ${image_s}s, VM ${vm_s}s (test unit started ${boot:-?} after kernel start), total $((SECONDS - t0))s; files in $OUT"
echo "vmtest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
