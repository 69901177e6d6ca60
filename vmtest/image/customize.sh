#!/usr/bin/env bash
# mmdebstrap --customize-hook: runs on the host, as root, once every package
# is in the guest tree ($1), before mmdebstrap cleans apt's lists.
# Env: VMTEST_DIR (vmtest/), VMTEST_CACHE.
set -euo pipefail
root=$1
vmtest=$VMTEST_DIR
log() { echo "vmtest-image: $*" >&2; }

# The kernel that was installed.
read -r kpkg pver < <(chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' 'linux-image-[0-9]*' | grep -v dbg | head -1)
kver=${kpkg#linux-image-}
[ -d "$root/lib/modules/$kver" ] || { log "error: no /lib/modules/$kver"; exit 1; }
log "guest kernel $kver ($pver)"

# gpio-sim, built for exactly this kernel.
ko=$("$vmtest/image/gpio-sim.sh" "$root" "$kver" "$pver")
mkdir -p "$root/lib/modules/$kver/updates"
cp "$ko" "$root/lib/modules/$kver/updates/gpio-sim.ko"

# Smaller image, quicker mkfs: drop module trees a VM without network,
# graphics or storage controllers never loads.
m="$root/lib/modules/$kver/kernel"
rm -rf "$m/drivers/gpu" "$m/drivers/net/wireless" "$m/drivers/net/ethernet" \
       "$m/drivers/infiniband" "$m/drivers/staging" "$m/drivers/bluetooth" \
       "$m/drivers/md" "$m/drivers/isdn" "$m/drivers/iio" \
       "$m/drivers/media/usb" "$m/drivers/media/pci" "$m/drivers/media/dvb-frontends" \
       "$m/drivers/media/tuners" "$m/net/wireless" "$m/net/mac80211" \
       "$m/net/bluetooth" "$m/sound/soc" "$m/fs/ocfs2" "$m/fs/xfs" "$m/fs/btrfs"
chroot "$root" depmod -a "$kver"
for mod in vivid snd-aloop gpio-sim 9p 9pnet_virtio; do
  chroot "$root" modinfo -k "$kver" -F filename "$mod" >/dev/null \
    || { log "error: module $mod missing from the image"; exit 1; }
done

# System: a quiet, quick boot that runs the test unit and powers off.
echo vmtest >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvmtest\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf '/dev/vda\t/\text4\trw,noatime\t0\t0\n' >"$root/etc/fstab"
: >"$root/etc/machine-id"   # a fresh id each boot (the disk is a snapshot)
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\nForwardToConsole=no\n' \
  >"$root/etc/systemd/journald.conf.d/vmtest.conf"
for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
         e2scrub_reap.service fstrim.timer man-db.timer getty@tty1.service \
         serial-getty@ttyS0.service systemd-timesyncd.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# Only the test unit: nothing waits on the network (there is none).
install -m 0755 "$vmtest/guest/vmtest-guest" "$root/usr/local/sbin/vmtest-guest"
install -m 0644 "$vmtest/guest/vmtest-guest.service" "$root/etc/systemd/system/vmtest-guest.service"
mkdir -p "$root/etc/systemd/system/multi-user.target.wants" "$root/mnt/vmtest"
ln -sf ../vmtest-guest.service "$root/etc/systemd/system/multi-user.target.wants/vmtest-guest.service"
chroot "$root" systemctl set-default multi-user.target >/dev/null 2>&1 || true

echo "$kver" >"$root/.vmtest-kver"
