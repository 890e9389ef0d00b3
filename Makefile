# hcagent: `make demo` runs a 3-board cluster in namespaces; `make check` runs every test. Both as root.
PREFIX  ?= /usr/local
DESTDIR ?=
SWIFT   ?= swift
RELEASE := .build/release
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: all deps build release check fuzz test-unit test-fuzz test-integration chaos demo demo-down install uninstall clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Static Swift runtime: one self-contained binary per board. lld with packed relative relocations and no
# exported symbols: the loader then touches far fewer pages at start (about 2 MiB less RSS); -Osize: the
# agent waits on the network, never on its CPU, and smaller code is another 0.5 MiB (docs/benchmarks.md).
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Osize -Xswiftc -use-ld=lld \
	-Xlinker --no-export-dynamic -Xlinker -z -Xlinker pack-relative-relocs

release: deps
	$(SWIFT) build $(RELEASE_FLAGS)

test-unit: deps
	$(SWIFT) test

# libFuzzer on every decoder of outside input (scripts/fuzz.sh): `make fuzz` gives each target FUZZ_SECONDS,
# `make check` a short pass over all of them (10 targets at 5 s: under a minute once built).
FUZZ_SECONDS ?= 60
CHECK_FUZZ_SECONDS ?= 5
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

test-fuzz: deps
	@scripts/fuzz.sh $(CHECK_FUZZ_SECONDS)

test-integration: release
	@scripts/run-integration-tests.sh

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
	@scripts/demo.sh up

demo-down:
	@scripts/demo.sh down

install: release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/hcagent
	install -m 0755 $(RELEASE)/hcagent $(RELEASE)/hcctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/|$(PREFIX)/|g' systemd/hcagent.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/hcagent.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/hcagent.service
	install -m 0644 README.md examples/agent.yaml examples/desired.yaml $(DESTDIR)$(PREFIX)/share/doc/hcagent/
	install -d -m 0755 $(DESTDIR)/etc/homecloud
	@# An existing configuration is the admin's: never overwritten.
	test -e $(DESTDIR)/etc/homecloud/agent.yaml || install -m 0644 examples/agent.yaml $(DESTDIR)/etc/homecloud/agent.yaml
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl disable --now hcagent.service || true; fi
	rm -f $(DESTDIR)$(PREFIX)/bin/hcagent $(DESTDIR)$(PREFIX)/bin/hcctl
	rm -f $(DESTDIR)$(PREFIX)/lib/systemd/system/hcagent.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/hcagent
	@echo "left in place: /etc/homecloud (configuration) and /var/lib/homecloud (state)"
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

clean:
	rm -rf .build
