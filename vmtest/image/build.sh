#!/usr/bin/env bash
# Builds, or finds in the cache, the Debian 12 guest image of the VM system
# test, and prints its directory (disk.img, vmlinuz, initrd.img, kver,
# packages.txt) as the last line on stdout.
#
#   vmtest/image/build.sh [EXTRA_PACKAGE...]
#
# EXTRA_PACKAGE: more Debian packages for the guest (vmtest/run.sh passes
# the Depends of the .debs under test: the guest has no network, so
# everything they need must be in the image).
#
# The image is cached under $VMTEST_CACHE (default /var/cache/kioskd-vmtest)
# keyed by a hash of everything that goes into it: this directory's files,
# the guest files baked in, the package list and the apt sources. The
# kioskd .deb is NOT part of the image; it is carried in over 9p at run time,
# so a cached image serves every build of kioskd.
#
# Environment:
#   VMTEST_CACHE          cache directory
#   VMTEST_APT_SOURCES    apt sources file (default: the host's own,
#                         /etc/apt/sources.list.d/debian.sources, so no
#                         mirror is written down here)
#   VMTEST_REBUILD=1      ignore a cached image
#   VMTEST_KEEP_IMAGES    how many other images to keep in the cache (default 1)
#
# Needs root (mmdebstrap --mode=root, file ownership in the image), and the
# host packages that vmtest/host-deps.sh installs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
vmtest=$(dirname "$here")
CACHE=${VMTEST_CACHE:-/var/cache/kioskd-vmtest}
SOURCES=${VMTEST_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}
SUITE=bookworm

log() { echo "vmtest-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap --mode=root, mkfs.ext4 -d with root-owned files)"
[ -r "$SOURCES" ] || die "apt sources file $SOURCES not readable (set VMTEST_APT_SOURCES)"
for t in mmdebstrap mkfs.ext4 dpkg-deb xz; do
  command -v "$t" >/dev/null || die "$t not found: run vmtest/host-deps.sh"
done

# What the guest needs: real systemd/journald/udev, the kernel (vivid and
# snd-aloop come with it), ALSA, V4L2 and GPIO tools, and what the test
# script uses (curl for dpsim's admin API, jq for its JSON).
PKGS=(systemd systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools
      alsa-utils v4l-utils gpiod iproute2 procps curl jq
      libc6 libvpx7 libopus0 libspeexdsp1 libasound2 adduser)
PKGS+=("$@")
mapfile -t PKGS < <(printf '%s\n' "${PKGS[@]}" | sed '/^$/d' | sort -u)

key=$( {
  echo "suite=$SUITE"
  printf 'pkg=%s\n' "${PKGS[@]}"
  cat "$SOURCES"
  (cd "$vmtest" && sha256sum image/* guest/*)
} | sha256sum | cut -c1-16)
img="$CACHE/img-$key"

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

if [ -z "${VMTEST_REBUILD:-}" ] && [ -f "$img/complete" ]; then
  log "cached image $img (kernel $(cat "$img/kver"))"
  touch "$img/complete"
  echo "$img"
  exit 0
fi

log "building image $key: ${PKGS[*]}"
start=$SECONDS
tmp="$CACHE/tmp-$key"
rm -rf "$tmp"
mkdir -p "$tmp" "$CACHE/dl"
rootfs="$tmp/rootfs"

# The initramfs is generated once, while the kernel is installed, and small
# (MODULES=list plus the few modules the boot needs): set that up before
# any package is unpacked.
setup_hook="$here/setup-hook.sh \"\$1\""
customize_hook="VMTEST_DIR='$vmtest' VMTEST_CACHE='$CACHE' $here/customize.sh \"\$1\""

mmdebstrap --mode=root --variant=apt --format=directory \
  --include="$(IFS=,; echo "${PKGS[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --setup-hook="$setup_hook" \
  --customize-hook="$customize_hook" \
  "$SUITE" "$rootfs" "$SOURCES" >&2 || die "mmdebstrap failed"

kver=$(cat "$rootfs/.vmtest-kver")
rm -f "$rootfs/.vmtest-kver"
cp "$rootfs/boot/vmlinuz-$kver" "$tmp/vmlinuz"
cp "$rootfs/boot/initrd.img-$kver" "$tmp/initrd.img"
echo "$kver" >"$tmp/kver"
chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' >"$tmp/packages.txt"

# The disk: the tree plus room for the journal, the state file and logs.
# mkfs.ext4 -d fills it without a loop mount.
used_mb=$(du -sm "$rootfs" | cut -f1)
size_mb=$(( used_mb * 13 / 10 + 512 ))
mkfs.ext4 -q -F -L vmroot -E root_owner=0:0 -d "$rootfs" "$tmp/disk.img" "${size_mb}M" >&2 \
  || die "mkfs.ext4 failed"
rm -rf "$rootfs"

rm -rf "$img"
mv "$tmp" "$img"
date -u +%FT%TZ >"$img/complete"
log "built $img in $((SECONDS - start)) s (kernel $kver, ${used_mb} MiB of files, disk ${size_mb} MiB)"

# Keep the cache bounded: this image and the newest VMTEST_KEEP_IMAGES others.
keep=${VMTEST_KEEP_IMAGES:-1}
{ ls -1dt "$CACHE"/img-* 2>/dev/null | grep -vx "$img" | tail -n +"$((keep + 1))" || true; } | while read -r old; do
  log "pruning old image $old"
  rm -rf "$old"
done
echo "$img"
