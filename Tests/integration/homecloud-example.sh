#!/usr/bin/env bash
# examples/desired.yaml, unmodified, converges on a board with a real systemd and Debian's real packages
# (Syncthing, Samba, containerd); k3s, which Debian does not package, is a stand-in unit of the same name.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
require_root

work=$(mktemp -d /tmp/hct-example.XXXXXX)
trap 'container_stop; rm -rf "$work"' EXIT
container_boot hct-ex1 || exit 1

inside useradd -m dnas                       # syncthing@dnas.service runs as the user dnas
# smbd runs only once Samba is configured, and needs its state directories (the container's /var is new).
inside mkdir -p /etc/samba /srv/share /var/lib/samba/private /var/cache/samba /var/log/samba
printf '[global]\n  workgroup = HC\n[share]\n  path = /srv/share\n' | inside sh -c 'cat > /etc/samba/smb.conf'
for unit in k3s k3s-agent; do
  printf '# Stand-in: k3s is not a Debian package.\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' |
    inside sh -c "cat > /etc/systemd/system/$unit.service"
done
inside systemctl daemon-reload
inside mkdir -p /etc/homecloud
inside sh -c 'head -c 32 /dev/urandom | base64 > /etc/homecloud/gossip.key'
printf 'node: hc1-n1\nbind: 127.0.0.1:7964\nkey_file: /etc/homecloud/gossip.key\n' | inside sh -c 'cat > /etc/homecloud/agent.yaml'
inside sh -c 'cat > /etc/homecloud/desired.yaml' <"$root/examples/desired.yaml"

active() { [ "$(unit_property "$1" ActiveState)" = active ]; }
enabled() { [ "$(inside systemctl is-enabled "$1" 2>/dev/null)" = enabled ]; }
converged() { inside hcctl status --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("convergence") == "converged" else 1)'; }

echo "the homecloud example on hc1-n1 (roles k3s-server, dnas)"
inside systemctl start hcagent.service
check "hc1-n1 converges" wait_until 20 converged
check "k3s.service runs and is enabled" bash -c "$(declare -f active enabled unit_property inside); init=$init; active k3s.service && enabled k3s.service"
check "syncthing@dnas.service (Debian's syncthing) runs and is enabled" bash -c "$(declare -f active enabled unit_property inside); init=$init; active syncthing@dnas.service && enabled syncthing@dnas.service"
check "smbd.service (placement vip:front) stays stopped: this board does not hold the VIP" bash -c "! nsenter -t $init -a systemctl is-active -q smbd.service"
check "k3s-agent.service, another role's unit, is not started" bash -c "! nsenter -t $init -a systemctl is-active -q k3s-agent.service"

inside sh -c 'cat > /root/packages.yaml' <<'YAML'
generation: 1
cluster: hc1
nodes: { hc1-n1: [dnas] }
roles:
  dnas:
    units:
      - { name: syncthing@dnas.service, state: running, enabled: true }
      - { name: smbd.service, state: running, enabled: true }
      - { name: containerd.service, state: running, enabled: true }
YAML
inside hcctl apply /root/packages.yaml >/dev/null
check "Debian's smbd, containerd and syncthing all run after an apply" wait_until 20 bash -c "
  for unit in smbd.service containerd.service syncthing@dnas.service; do nsenter -t $init -a systemctl is-active -q \$unit || exit 1; done"
check "... and the node is converged" wait_until 10 converged
check "k3s.service, no longer named, keeps running (never stopped by omission)" active k3s.service

finish
