#!/usr/bin/env bash
# Installs on the host (Debian 12) what the VM system test needs. Installs
# only what is missing; never removes or purges anything.
#   qemu-system-x86   the VM (TCG: no KVM needed)
#   mmdebstrap        the guest's Debian tree (root mode)
#   e2fsprogs         mkfs.ext4 -d: the disk without a loop mount
#   xz-utils          linux-source's tarball (for gpio-sim)
#   gcc-12 make libelf1  building gpio-sim.ko out of tree against the
#                     guest kernel's extracted headers (objtool needs libelf)
#   ca-certificates   apt over https mirrors, if the host's sources use them
set -euo pipefail
PKGS=(qemu-system-x86 mmdebstrap e2fsprogs xz-utils gcc-12 make libelf1 ca-certificates)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "vmtest: installing ${missing[*]}"
  $SUDO apt-get update -qq
  # --no-remove: installing must never take a package away from the host.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null
fi
