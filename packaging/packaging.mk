# Debian packages (included by the top Makefile). See packaging/README.md.
#   make deb         dist/kioskd_<v>-<rev>_amd64.deb, …_arm64.deb (<rev>: DEB_REVISION)
#                    and the kioskd-dpsim packages beside them
#   make deb-amd64   amd64 only      make deb-arm64   arm64 only (cross cgo)
#   make deb-lint    lintian on dist/*.deb (no errors, no warnings)
#   make deb-ci      packaging/ci.sh: build, lint, install, check, purge
#   make deb-clean   remove the packages and their build files
# The version comes from git (packaging/version.sh); `make deb VERSION=1.2.3`
# packages a given version, DEB_REVISION (default 1) is the Debian revision.

DEB_REVISION ?= 1
ifneq ($(filter command line environment override,$(origin VERSION)),)
DEB_UPSTREAM_VERSION ?= $(shell packaging/version.sh '$(VERSION)')
else
DEB_UPSTREAM_VERSION ?= $(shell packaging/version.sh)
endif
DEB_ENV = DEB_UPSTREAM_VERSION='$(DEB_UPSTREAM_VERSION)' DEB_REVISION='$(DEB_REVISION)' $(if $(GO),GO='$(GO)')

.PHONY: deb deb-amd64 deb-arm64 deb-lint deb-ci deb-clean

deb: deb-amd64 deb-arm64

deb-amd64:
	$(DEB_ENV) packaging/build.sh amd64

deb-arm64:
	$(DEB_ENV) packaging/build.sh arm64

deb-lint:
	lintian --fail-on error,warning $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) dist/*.deb

deb-ci:
	packaging/ci.sh

deb-clean:
	rm -rf dist/*.deb dist/.build
