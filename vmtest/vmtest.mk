# VM system test (vmtest/README.md): the .deb under real systemd, journald,
# V4L2 (vivid), ALSA (snd-aloop) and GPIO (gpio-sim) in a Debian 12 VM.
# Included by the top Makefile; uses its GO and VERSION.
#
#   make vmtest            the .debs of `make deb` (dist/kioskd_$(VERSION)_amd64.deb, ...)
#   make vmtest-plumbing   bin/kioskd + bin/dpsim with vmtest's own plain unit
#                          (the machinery only, not the shipped unit)
#   make vmtest-smoke      devices and services of the guest, no kioskd
#   make vmtest-image      build (or find in the cache) the guest image only
#   make vmtest-clean      drop the cached images and downloads
VMTEST_CACHE ?= /var/cache/kioskd-vmtest

.PHONY: vmtest vmtest-plumbing vmtest-smoke vmtest-image vmtest-deps vmtest-clean

vmtest-deps:
	@vmtest/host-deps.sh

# The amd64 .debs are built first when packaging brings its targets.
ifneq ($(wildcard packaging/*.mk),)
vmtest: deb-amd64
endif
vmtest: vmtest-deps
	@ls dist/kioskd_*_amd64.deb dist/kioskd-dpsim_*_amd64.deb >/dev/null 2>&1 \
	  || { echo "vmtest: FAIL: no dist/kioskd_*_amd64.deb and dist/kioskd-dpsim_*_amd64.deb: the VM system test tests the .debs of 'make deb' (packaging/), which $(if $(wildcard packaging/*.mk),did not produce them,does not exist yet)"; exit 1; }
	VMTEST_CACHE=$(VMTEST_CACHE) VMTEST_VERSION='$(if $(DEB_UPSTREAM_VERSION),$(DEB_UPSTREAM_VERSION)-$(DEB_REVISION),$(VERSION))' vmtest/run.sh

vmtest-plumbing: vmtest-deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/kioskd ./cmd/kioskd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dpsim ./cmd/dpsim
	VMTEST_CACHE=$(VMTEST_CACHE) VMTEST_FROM=bin vmtest/run.sh

vmtest-smoke: vmtest-deps
	VMTEST_CACHE=$(VMTEST_CACHE) VMTEST_FROM=bin VMTEST_SCRIPT=smoke vmtest/run.sh

vmtest-image: vmtest-deps
	VMTEST_CACHE=$(VMTEST_CACHE) vmtest/image/build.sh

vmtest-clean:
	rm -rf $(VMTEST_CACHE) vmtest/.cache
