#!/usr/bin/env bash
# Installs, from Debian's packages, what building and testing hcagent needs; does nothing when all is there.
set -euo pipefail
packages=(
  pkg-config libsystemd-dev libyaml-dev libnl-3-dev libnl-route-3-dev libsodium-dev   # C libraries the agent links
  libstdc++-12-dev                                                                    # linked in statically (Makefile)
  iproute2 nftables iputils-ping procps psmisc curl python3                           # the namespace lab
  systemd systemd-container dbus                                                      # a real systemd in a container
  keepalived tcpdump                                                                  # the VRRP peer and packet captures
  samba smbclient syncthing containerd                                                # real units and a Samba client for the tests
  debhelper lintian groff-base man-db                                                 # make deb, the man pages
  prometheus                                                                          # promtool, for the example alert rules
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# keepalived's and prometheus' packages may start a system instance where an init runs; the tests start their
# own keepalived and need only promtool.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  for service in keepalived prometheus; do systemctl disable --now "$service" 2>/dev/null || true; done
fi
command -v swift >/dev/null || { echo "swift is not on PATH (expected /opt/swift/usr/bin)"; exit 1; }
