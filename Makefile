# hcagent: `make demo` boots a 3-board cluster in systemd-nspawn containers; `make check` runs every test. Both as root.
PREFIX  ?= /usr/local
DESTDIR ?=
SWIFT   ?= swift
RELEASE := .build/release
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: all deps build release deb check-man check fuzz test-unit test-fuzz test-integration chaos demo demo-down install uninstall clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Static Swift runtime: one self-contained binary per board. lld with packed relative relocations and no
# exported symbols: the loader then touches far fewer pages at start (about 2 MiB less RSS); -Osize: the
# agent waits on the network, never on its CPU, and smaller code is another 0.5 MiB (docs/benchmarks.md).
# libstdc++ linked in statically too: the Swift runtime needs a few of its functions, but the shared library is
# mapped whole and initialised at start (about 1 MiB of RSS against 60 KB of code linked in). The static runtime's
# link line asks for `-lstdc++` itself, so a linker script of that name, found first, points it at the archive.
STATIC_CXX_DIR := $(CURDIR)/.build/static-libstdc++
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Osize -Xswiftc -use-ld=lld \
	-Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs -Xlinker -L$(STATIC_CXX_DIR)

release: deps $(STATIC_CXX_DIR)/libstdc++.so
	$(SWIFT) build $(RELEASE_FLAGS)

$(STATIC_CXX_DIR)/libstdc++.so:
	@archive=$$(clang -print-file-name=libstdc++.a); \
	  [ -f "$$archive" ] || { echo "libstdc++.a not found (Debian: libstdc++-12-dev)"; exit 1; }; \
	  mkdir -p $(STATIC_CXX_DIR) && echo "INPUT ( $$archive )" > $@

# The simulations are CPU-bound: beside the socket tests they take both threads of the cooperative pool (on a
# 2-core machine) for tens of seconds, and a control-socket test then waits past its deadline. So: everything
# else first, then the simulations on their own.
SIMULATIONS := Simulation|PartitionPlacementTests
test-unit: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip '$(SIMULATIONS)'
	$(SWIFT) test --skip-build --filter '$(SIMULATIONS)'

# libFuzzer on every decoder of outside input (scripts/fuzz.sh): `make fuzz` gives each target FUZZ_SECONDS,
# `make check` a short pass over all of them (10 targets at 5 s: under a minute once built).
FUZZ_SECONDS ?= 60
CHECK_FUZZ_SECONDS ?= 5
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

test-fuzz: deps
	@scripts/fuzz.sh $(CHECK_FUZZ_SECONDS)

# HC_RELEASE_BUILT: the scripts' make install then skips asking for the release build again (lib/container.sh).
test-integration: release
	@HC_RELEASE_BUILT=yes scripts/run-integration-tests.sh

check: test-unit test-fuzz test-integration

# The chaos suite (Tests/chaos/chaos.sh, as root): SEEDS seeds from FIRST, or one seed with SEED=N. KNOWN names
# violation kinds to print as skipped, not counted (none by default: every kind counts).
# make check runs 2 seeds of it (Tests/integration/chaos-seeds.sh).
SEEDS ?= 5
FIRST ?= 1
KNOWN ?=
chaos: release
	@SEEDS=$(SEEDS) FIRST=$(FIRST) SEED=$(SEED) KNOWN="$(KNOWN)" nice -n 10 bash Tests/chaos/chaos.sh

demo: release
	@HCDEMO_BUILT=yes scripts/demo.sh up

demo-down:
	@scripts/demo.sh down

# Debian's paths with PREFIX=/usr SYSTEMD_UNIT_DIR=/lib/systemd/system (debian/rules); INSTALL_CONFIG=no leaves /etc
# alone (the package creates no configuration: hcctl init or join writes it).
SYSTEMD_UNIT_DIR ?= $(PREFIX)/lib/systemd/system
INSTALL_CONFIG   ?= yes
DOC_DIR          := $(PREFIX)/share/doc/hcagent
MAN_PAGES        := man/hcagent.8 man/hcctl.8 man/homecloud-agent.yaml.5 man/homecloud-desired.yaml.5

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSTEMD_UNIT_DIR) $(DESTDIR)$(DOC_DIR)/examples \
		$(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(RELEASE)/hcagent $(RELEASE)/hcctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/|$(PREFIX)/|g' systemd/hcagent.service > $(DESTDIR)$(SYSTEMD_UNIT_DIR)/hcagent.service
	chmod 0644 $(DESTDIR)$(SYSTEMD_UNIT_DIR)/hcagent.service
	install -m 0644 README.md SECURITY.md $(DESTDIR)$(DOC_DIR)/
	install -m 0644 examples/agent.yaml examples/desired.yaml $(DESTDIR)$(DOC_DIR)/examples/
	install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 completion/hcctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/hcctl
	@# An existing configuration is the admin's: never overwritten.
	if [ "$(INSTALL_CONFIG)" = yes ]; then install -d -m 0755 $(DESTDIR)/etc/homecloud; \
		test -e $(DESTDIR)/etc/homecloud/agent.yaml || install -m 0644 examples/agent.yaml $(DESTDIR)/etc/homecloud/agent.yaml; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now hcagent.service || true; fi
	rm -f $(DESTDIR)$(PREFIX)/bin/hcagent $(DESTDIR)$(PREFIX)/bin/hcctl
	rm -f $(DESTDIR)$(SYSTEMD_UNIT_DIR)/hcagent.service
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man8/,hcagent.8 hcctl.8) \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man5/,homecloud-agent.yaml.5 homecloud-desired.yaml.5)
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/hcctl
	rm -rf $(DESTDIR)$(DOC_DIR)
	@echo "left in place: /etc/homecloud (configuration) and /var/lib/homecloud (state)"
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

# The man pages render without a warning (groff from groff-base, installed by scripts/install-deps.sh).
check-man:
	@for page in $(MAN_PAGES); do out=$$(groff -ww -man -z $$page 2>&1); test -z "$$out" || { echo "$$page: $$out"; exit 1; }; done
	@echo "man pages: no warnings"

# hcagent_VERSION_ARCH.deb in this directory, the Debian way (debian/, debhelper); lintian's verdict after it.
deb: deps
	rm -f hcagent_*.deb
	dpkg-checkbuilddeps
	debian/rules build
	debian/rules binary
	lintian --fail-on error hcagent_*.deb
	@ls -l hcagent_*.deb

clean:
	rm -rf .build
