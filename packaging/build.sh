#!/usr/bin/env bash
# Builds dist/kioskd_<version>_<arch>.deb and dist/kioskd-dpsim_<version>_<arch>.deb.
#   packaging/build.sh amd64|arm64
# Environment (all optional; packaging/packaging.mk sets them):
#   GO                    go binary (default: scripts/go.sh path)
#   DEB_UPSTREAM_VERSION  default: packaging/version.sh
#   DEB_REVISION          default: 1
#   DEB_MAINTAINER        default: kioskd maintainers <maintainers@kioskd.example>
# arm64 on an amd64 host is a cgo cross build; packaging/install-cross.sh
# installs the cross compiler and arm64 libraries first.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=${1:?usage: packaging/build.sh amd64|arm64}
# Go, gcc and the native -dev libraries (needed for either architecture).
scripts/install-deps.sh >/dev/null
GO=${GO:-$(scripts/go.sh path)}
DEB_UPSTREAM_VERSION=${DEB_UPSTREAM_VERSION:-$(packaging/version.sh)}
DEB_REVISION=${DEB_REVISION:-1}
DEB_MAINTAINER=${DEB_MAINTAINER:-kioskd maintainers <maintainers@kioskd.example>}
NFPM_VERSION=v2.45.2
host=$(dpkg --print-architecture)

case "$arch" in
amd64) goarch=amd64; triplet=x86_64-linux-gnu ;;
arm64) goarch=arm64; triplet=aarch64-linux-gnu ;;
*) echo "build.sh: unsupported architecture $arch" >&2; exit 2 ;;
esac

stage=dist/.build/$arch
mkdir -p "$stage" dist/.tools

# --- Toolchain -------------------------------------------------------------
export CGO_ENABLED=1 GOOS=linux GOARCH=$goarch
if [ "$arch" != "$host" ]; then
  packaging/install-cross.sh
  export CC=${triplet}-gcc
  export PKG_CONFIG_LIBDIR=/usr/lib/${triplet}/pkgconfig:/usr/share/pkgconfig
fi
# nfpm, pinned, installed outside our go.mod (GOFLAGS cleared so a
# -mod=vendor or similar of the caller does not apply to it).
nfpm=dist/.tools/nfpm-$NFPM_VERSION
if [ ! -x "$nfpm" ]; then
  echo "build.sh: installing nfpm $NFPM_VERSION"
  tmpbin=$(mktemp -d)
  GOOS= GOARCH= CGO_ENABLED=0 GOFLAGS= GOBIN="$tmpbin" \
    "$GO" install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
  mv "$tmpbin/nfpm" "$nfpm"; rmdir "$tmpbin"
fi

# --- Binaries --------------------------------------------------------------
# PIE, full RELRO and BIND_NOW (Debian's hardening defaults, which lintian
# checks); -s -w: no symbol table or DWARF in the shipped binary.
# The build date is the commit's (SOURCE_DATE_EPOCH): a kiosk whose clock
# reads earlier knows its clock is wrong (a certificate "not yet valid").
epoch=$(git log -1 --format=%ct HEAD 2>/dev/null || date +%s)
build_date=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w -X github.com/kioskd/kioskd/internal/version.Version=${DEB_UPSTREAM_VERSION}"
ldflags+=" -X github.com/kioskd/kioskd/internal/version.BuildDate=${build_date}"
# The commit, for the metrics' kioskd_build_info.
ldflags+=" -X github.com/kioskd/kioskd/internal/version.Commit=$(git rev-parse HEAD 2>/dev/null || true)"
ldflags+=" -extldflags '-Wl,-z,relro,-z,now'"
export CGO_CFLAGS="-O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2"
export CGO_CPPFLAGS="-D_FORTIFY_SOURCE=2"
echo "build.sh: building kioskd and dpsim $DEB_UPSTREAM_VERSION for $arch"
# -tags dynamic: Debian's libopus, not mediadevices' bundled static one
# (see the Makefile).
"$GO" build -trimpath -buildmode=pie -tags dynamic -ldflags "$ldflags" -o "$stage/kioskd" ./cmd/kioskd
"$GO" build -trimpath -buildmode=pie -tags dynamic -ldflags "$ldflags" -o "$stage/dpsim" ./cmd/dpsim
# The compilers' .comment section, as dh_strip removes it.
objcopy=${triplet}-objcopy; command -v "$objcopy" >/dev/null || objcopy=objcopy
"$objcopy" --remove-section=.comment "$stage/kioskd"
"$objcopy" --remove-section=.comment "$stage/dpsim"

# --- Dependencies: dpkg-shlibdeps, as debhelper's ${shlibs:Depends} --------
shl=$(mktemp -d)
trap 'rm -rf "$shl"' EXIT
mkdir -p "$shl/debian/kioskd/usr/bin" "$shl/debian/kioskd-dpsim/usr/bin"
printf 'Source: kioskd\n\nPackage: kioskd\nArchitecture: any\n\nPackage: kioskd-dpsim\nArchitecture: any\n' > "$shl/debian/control"
cp "$stage/kioskd" "$shl/debian/kioskd/usr/bin/"
cp "$stage/dpsim" "$shl/debian/kioskd-dpsim/usr/bin/"
shlibdeps() { # $1 = binary, relative to $shl
  # (its warning that the binary is not in its package's directory is moot:
  # dpkg-shlibdeps only reads the binary here)
  (cd "$shl" && CC=${CC:-gcc} dpkg-architecture -a "$arch" -c dpkg-shlibdeps -O "$1" 2> >(grep -v "should already be installed" >&2)) |
    sed -n 's/^shlibs:Depends=//p'
}
KIOSKD_SHLIBS=$(shlibdeps debian/kioskd/usr/bin/kioskd)
DPSIM_SHLIBS=$(shlibdeps debian/kioskd-dpsim/usr/bin/dpsim)
[ -n "$KIOSKD_SHLIBS" ] && [ -n "$DPSIM_SHLIBS" ] || { echo "build.sh: dpkg-shlibdeps found nothing" >&2; exit 1; }
echo "build.sh: kioskd Depends: $KIOSKD_SHLIBS, libasound2, adduser"
echo "build.sh: kioskd-dpsim Depends: $DPSIM_SHLIBS"

# --- Generated files -------------------------------------------------------
# The shipped config is configs/kioskd.yaml with server.url emptied: the
# service starts only once the integrator sets it, in a drop-in (see
# kioskd(8)); the conffile itself is never edited.
awk '
  /^server:/ { in_server = 1 }
  /^[a-z]/ && !/^server:/ { in_server = 0 }
  in_server && /^  url:/ && !done {
    print "  # Empty as shipped: kioskd.service does not start until it is set, in a"
    print "  # drop-in such as /etc/kioskd/kioskd.yaml.d/50-site.yaml (not here)."
    print "  url: \"\""; done = 1; next }
  { print }
  END { if (!done) exit 1 }' configs/kioskd.yaml > "$stage/kioskd.yaml" ||
  { echo "build.sh: no server.url line in configs/kioskd.yaml" >&2; exit 1; }

# Reproducible timestamps: HEAD's commit time (nfpm and the changelog).
export SOURCE_DATE_EPOCH=$epoch
date_rfc=$(LC_ALL=C date -u -R -d "@$epoch")
commit=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
for p in kioskd kioskd-dpsim; do
  out=$stage/changelog.Debian
  [ "$p" = kioskd-dpsim ] && out=$stage/changelog-dpsim.Debian
  sed -e "s/@PACKAGE@/$p/" -e "s/@VERSION@/${DEB_UPSTREAM_VERSION}-${DEB_REVISION}/" \
      -e "s/@COMMIT@/$commit/" -e "s/@MAINTAINER@/$DEB_MAINTAINER/" -e "s/@DATE@/$date_rfc/" \
      packaging/changelog.in > "$out"
  gzip -9nf "$out"
done
gzip -9nc packaging/kioskd.8 > "$stage/kioskd.8.gz"
gzip -9nc packaging/dpsim.1 > "$stage/dpsim.1.gz"

# --- Packages --------------------------------------------------------------
export DEB_ARCH=$arch DEB_UPSTREAM_VERSION DEB_REVISION DEB_MAINTAINER STAGE=$stage KIOSKD_SHLIBS DPSIM_SHLIBS
v=${DEB_UPSTREAM_VERSION}-${DEB_REVISION}
"$nfpm" package --config packaging/nfpm-kioskd.yaml --packager deb --target "dist/kioskd_${v}_${arch}.deb" >/dev/null
"$nfpm" package --config packaging/nfpm-dpsim.yaml --packager deb --target "dist/kioskd-dpsim_${v}_${arch}.deb" >/dev/null
echo "build.sh: dist/kioskd_${v}_${arch}.deb dist/kioskd-dpsim_${v}_${arch}.deb"
