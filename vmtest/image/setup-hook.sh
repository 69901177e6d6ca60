#!/bin/sh
# mmdebstrap --setup-hook: runs before any package is unpacked into the
# guest tree ($1). Makes the initramfs that the kernel's installation
# generates small and quick (MODULES=list) with just what this VM boots
# from: virtio PCI, the virtio-blk root disk and ext4.
set -eu
root=$1
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"
cat >"$root/etc/initramfs-tools/conf.d/vmtest.conf" <<'CONF'
MODULES=list
CONF
cat >"$root/etc/initramfs-tools/hooks/vmtest-modules" <<'HOOK'
#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "${1:-}" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_blk ext4 crc32c_generic; do
  force_load "$m"
done
HOOK
chmod 0755 "$root/etc/initramfs-tools/hooks/vmtest-modules"
