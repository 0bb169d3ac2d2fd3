# Thin wrapper around CMake/CTest. Every target installs what is missing first, so a fresh
# Debian 12 machine (as root) needs nothing but this repository.
BUILD   ?= build
JOBS    ?= 2
DESTDIR ?=

# Exactly what building, testing and the demo use (Debian 12 package names).
DEPS = cmake gcc make pkg-config \
       libpcap-dev libglib2.0-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libmicrohttpd-dev \
       libgnutls28-dev wireshark-dev libwireshark-dev \
       tshark tcpdump python3 python3-pytest python3-yaml python3-cryptography python3-jsonschema iproute2 iputils-ping curl openssl procps util-linux
# libFuzzer harnesses (tests/fuzz) need clang's fuzzer runtime.
FUZZ_DEPS = clang-14 libclang-rt-14-dev
# make package: dpkg-shlibdeps, lintian (checks the .deb) and rpmbuild (CPack's RPM generator);
# the install test also drives the real Wireshark GUI under Xvfb (xdotool, xwd, netpbm).
PKG_DEPS = dpkg-dev lintian rpm wireshark-qt xvfb xdotool x11-apps netpbm
# make msi and the msi test: the Windows cross-build (packaging/windows/build-deps.sh also installs
# these itself and adds a deb-src entry for `apt-get source`); Wine runs the .exe in the test.
WIN_DEPS = gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 msitools wixl dpkg-dev autoconf automake \
           libtool patch file wine wine64
# make container: the agent's image (packaging/container/Containerfile) with podman, on a local
# Debian 12 slim base made by debootstrap (no registry needed). build.sh installs them as well.
CONTAINER_DEPS = podman crun runc conmon catatonit uidmap fuse-overlayfs slirp4netns netavark \
                 golang-github-containers-common debootstrap
# bench/ (make bench): the traffic generator and sshdump's chain for the side-by-side runs.
BENCH_DEPS = netsniff-ng openssh-server openssh-client iptables time wireshark-common

.PHONY: all deps build test demo install package asan fuzz bench container msi clean

all: build

deps:
	@missing=$$(for p in $(DEPS) $(FUZZ_DEPS) $(PKG_DEPS) $(WIN_DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# the manifest schema check (tests/manifests) runs on Node.js; any node >= 18 with npm will do
	@command -v npm >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

demo: build
	NETCAP_BUILD_DIR=$(abspath $(BUILD)) bash scripts/demo.sh

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# netcap-wireshark and netcap-agent as .deb (build-deb/, for Debian/Ubuntu: /usr/lib/<triplet>)
# and .rpm (build-rpm/, laid out for Fedora/RHEL: /usr/lib64); see packaging/cpack.cmake.
package: deps
	cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF
	cmake --build build-deb -j$(JOBS)
	cd build-deb && cpack -G DEB
	cmake -S . -B build-rpm -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
	      -DCMAKE_INSTALL_LIBDIR=lib64 -DNETCAP_WS_LIBDIR=lib64/wireshark
	cmake --build build-rpm -j$(JOBS)
	cd build-rpm && cpack -G RPM

# Unit and end-to-end tests under AddressSanitizer + UndefinedBehaviorSanitizer (.ci/run runs it
# after make test; the fuzzers already run under ASan in make test, so they are not repeated).
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNETCAP_SANITIZE=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -E fuzz_smoke

# Long fuzzing run of every harness (make test runs each for 10 s).
fuzz: deps
	bash tests/fuzz/run.sh $${FUZZ_SECONDS:-300} build-fuzz

# The Windows installer build-win/netcap-extcap-<version>-x64.msi (README "Install on Windows").
msi: deps
	bash packaging/windows/build-msi.sh build-win

container:
	@missing=$$(for p in $(CONTAINER_DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
	bash packaging/container/build.sh

# Side-by-side benchmarks (BENCHMARKS.md): netcap, tcpdump and sshdump in one run of the shared
# harness, the dumpcap fifo ceiling, a stalled client, and the plugin's cost in tshark -r.
# BENCH_QUICK=1: one rate per frame size, short runs.
bench: build
	@missing=$$(for p in $(BENCH_DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
	NETCAP_BUILD_DIR=$(abspath $(BUILD)) bash bench/capture.sh $(if $(BENCH_QUICK),--quick)
	NETCAP_BUILD_DIR=$(abspath $(BUILD)) bash bench/stall.sh $(if $(BENCH_QUICK),20,60)
	NETCAP_BUILD_DIR=$(abspath $(BUILD)) bash bench/dissect.sh $(if $(BENCH_QUICK),200000 3,1000000 5)

clean:
	rm -rf $(BUILD) build-asan build-deb build-rpm build-win
