# Thin wrapper around CMake/CTest. Every target installs what is missing first, so a fresh
# Debian 12 machine (as root) needs nothing but this repository.
BUILD   ?= build
JOBS    ?= 2
DESTDIR ?=

# Exactly what building, testing and the demo use (Debian 12 package names).
DEPS = cmake gcc make pkg-config \
       libpcap-dev libglib2.0-dev libcurl4-openssl-dev libcjson-dev libyaml-dev libmicrohttpd-dev \
       libgnutls28-dev wireshark-dev libwireshark-dev \
       tshark tcpdump python3 python3-pytest python3-yaml python3-cryptography iproute2 iputils-ping curl openssl procps util-linux
# libFuzzer harnesses (tests/fuzz) need clang's fuzzer runtime.
FUZZ_DEPS = clang-14 libclang-rt-14-dev

.PHONY: all deps build test demo install asan fuzz clean

all: build

deps:
	@missing=$$(for p in $(DEPS) $(FUZZ_DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure

demo: build
	NETCAP_BUILD_DIR=$(abspath $(BUILD)) bash scripts/demo.sh

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# Unit and end-to-end tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNETCAP_SANITIZE=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure

# Long fuzzing run of every harness (make test runs each for 10 s).
fuzz: deps
	bash tests/fuzz/run.sh $${FUZZ_SECONDS:-300} build-fuzz

clean:
	rm -rf $(BUILD) build-asan
