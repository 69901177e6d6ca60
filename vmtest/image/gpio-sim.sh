#!/usr/bin/env bash
# Builds gpio-sim.ko for the guest's kernel and prints its path.
#
#   gpio-sim.sh ROOTFS KVER PKGVERSION
#
# Debian's kernel does not ship gpio-sim (CONFIG_GPIO_SIM is not set), so it
# is built out of tree from Debian's own linux-source at exactly the guest
# kernel's package version, against that version's linux-headers and
# linux-kbuild. The packages are fetched with the guest tree's apt (its
# package lists are the ones the kernel came from: same version guaranteed)
# and only extracted here, never installed on the host.
#
# Two adaptations, both because it is built outside the kernel:
# - kernel/irq/irq_sim.c (CONFIG_IRQ_SIM is not set either) is linked into
#   the module;
# - irq_to_desc() is not exported to modules, so irq_sim's
#   handle_simple_irq(irq_to_desc(irqnum)) becomes generic_handle_irq(irqnum),
#   which does the same through an exported function.
# The module is unsigned: it loads on a kernel without lockdown (no Secure
# Boot in this VM) and taints it, which the test accepts.
#
# Cached under $VMTEST_CACHE/gpio-sim/<version>-<hash of this file>.
set -euo pipefail
root=$1 kver=$2 pver=$3
CACHE=${VMTEST_CACHE:-/var/cache/kioskd-vmtest}
log() { echo "vmtest-gpio-sim: $*" >&2; }

self_hash=$(sha256sum "$0" | cut -c1-12)
out="$CACHE/gpio-sim/$pver-$self_hash"
if [ -f "$out/gpio-sim.ko" ]; then
  log "cached $out/gpio-sim.ko"
  echo "$out/gpio-sim.ko"
  exit 0
fi

series=$(echo "$kver" | cut -d. -f1-2)     # 6.1
abi=${kver%-*}                              # 6.1.0-56
flavour=${kver##*-}                         # amd64
pkgs=("linux-source-$series" "linux-headers-$kver" "linux-headers-$abi-common" "linux-kbuild-$series")

dl="$CACHE/dl/$pver"
mkdir -p "$dl"
need=()
for p in "${pkgs[@]}"; do
  ls "$dl/${p}_"*.deb >/dev/null 2>&1 || need+=("$p=$pver")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "downloading ${need[*]}"
  rm -rf "$root/tmp/vmtest-dl"
  mkdir -p "$root/tmp/vmtest-dl"
  chown _apt "$root/tmp/vmtest-dl" 2>/dev/null || true
  chroot "$root" sh -c "cd /tmp/vmtest-dl && apt-get download -q ${need[*]}" >&2
  mv "$root"/tmp/vmtest-dl/*.deb "$dl/"
  rm -rf "$root/tmp/vmtest-dl"
fi

work=$(mktemp -d "$CACHE/gpio-sim-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sys" "$work/src" "$work/mod"
for p in "${pkgs[@]:1}"; do
  dpkg-deb -x "$dl/${p}_"*.deb "$work/sys"
done
# The headers' Makefile includes the -common tree by absolute path: point it
# at the extracted copy.
hdr="$work/sys/usr/src/linux-headers-$kver"
echo "include $work/sys/usr/src/linux-headers-$abi-common/Makefile" >"$hdr/Makefile"

# Three files out of the source tarball (inside the .deb): stream it, stop
# after the last one (tar --occurrence; the early stop breaks the pipe, which
# is expected, hence no pipefail for this one).
tarball="./usr/src/linux-source-$series.tar.xz"
top="linux-source-$series"
files=(drivers/gpio/gpio-sim.c drivers/gpio/gpiolib.h kernel/irq/irq_sim.c)
set +o pipefail
dpkg-deb --fsys-tarfile "$dl/linux-source-${series}_"*.deb 2>/dev/null \
  | tar -xO "$tarball" 2>/dev/null \
  | tar -xJ -C "$work/src" --occurrence "${files[@]/#/$top/}"
set -o pipefail
for f in "${files[@]}"; do
  [ -f "$work/src/$top/$f" ] || { log "error: $f not found in linux-source-$series $pver"; exit 1; }
done

cp "$work/src/$top/drivers/gpio/gpio-sim.c" "$work/mod/gpio-sim-main.c"
cp "$work/src/$top/drivers/gpio/gpiolib.h" "$work/mod/"
objs="gpio-sim-main.o"
if ! grep -q '^CONFIG_IRQ_SIM=y' "$hdr/.config"; then
  sed 's/handle_simple_irq(irq_to_desc(\([a-z_]*\)))/generic_handle_irq(\1)/' \
    "$work/src/$top/kernel/irq/irq_sim.c" >"$work/mod/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum)' "$work/mod/irq_sim.c" \
    || { log "error: irq_sim.c of $pver no longer has handle_simple_irq(irq_to_desc(...)): adapt $0"; exit 1; }
  objs="$objs irq_sim.o"
fi
printf 'obj-m := gpio-sim.o\ngpio-sim-y := %s\n' "$objs" >"$work/mod/Kbuild"

log "building gpio-sim for $kver ($pver)"
make -s -C "$hdr" M="$work/mod" modules >"$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; log "error: module build failed"; exit 1; }
if grep -E 'WARNING: .*undefined' "$work/build.log" >&2; then
  log "error: gpio-sim uses symbols the kernel does not export"; exit 1
fi
mkdir -p "$out"
cp "$work/mod/gpio-sim.ko" "$out/"
# Keep the cache to this kernel: sources and modules of older ones go.
find "$CACHE/dl" "$CACHE/gpio-sim" -mindepth 1 -maxdepth 1 -type d \
  ! -name "$pver" ! -name "$pver-$self_hash" -exec rm -rf {} + 2>/dev/null || true
echo "$out/gpio-sim.ko"
