#!/usr/bin/env bash
# Managed files beside Ansible, on the same 3 boards in the same run (issue 15's targets): each board is a
# systemd-nspawn container with a real systemd, hcagent as its unit and a stand-in service bench-web.service that,
# whenever it starts, copies its configuration /etc/bench/app.conf aside and notes the time (ns). Measured:
#  a) hcagent: a changed file in the document (a template with {{ node }} and {{ address }}, restart:
#     [bench-web.service]), from the start of `hcctl apply` on board 1 until the last board's unit started with
#     the new content (its own start time, not when we polled it); in brackets when hcctl apply returned.
#  b) hcagent: a hand edit (a line appended) on one board, until that board's unit started again with the
#     content repaired.
#  c) ansible-playbook (Debian's ansible-core, ssh with pipelining and ControlPersist, from a fourth namespace
#     on the same LAN as the operator's laptop) with the same template and a handler restarting the same unit:
#     the same change from the playbook's start until the last board's unit started (in brackets when
#     ansible-playbook exited), and a run started right after the same hand edit. hcagent is stopped on every
#     board meanwhile, so that it does not repair what Ansible writes.
#     Ansible's best case: facts not gathered (the template needs only inventory variables), connections kept
#     open between runs; one more row with fact gathering (Ansible's default) for the change.
# Needs root; installs what it lacks (systemd-container, ansible-core, openssh-client/-sftp-server; sshd is
# taken from Debian's openssh-server package without installing it on the host: installed, every container
# booted from the host's /usr would enable it). Builds with `make install` into a stage, then holds
# /tmp/hc-integration.lock while it runs (do not wrap it in flock yourself). REPEATS (5) per case.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib.sh"
source "$root/Tests/integration/lib/checks.sh"
source "$root/Tests/integration/lib/container.sh"
LAB_NAME=hab
LAB_NET=10.58.0
source "$root/scripts/lab.sh"
require_root
repeats=${REPEATS:-5}
laptop=4  # the fourth namespace: Ansible's controller, on the boards' LAN

# What needs no lab (packages, the build, sshd) is done before the lock, so that others' tests are not held.
if [ -z "${HC_BENCH_LOCK_HELD:-}" ]; then
  need() {  # need COMMAND PACKAGE: installs PACKAGE (without recommends) when COMMAND is missing
    [ -e "$1" ] || command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null || { echo "apt-get install $2 failed"; exit 1; }
  }
  need systemd-nspawn systemd-container
  need ansible-playbook ansible-core
  need ssh openssh-client
  need /usr/lib/openssh/sftp-server openssh-sftp-server
  work=$(mktemp -d /tmp/hcab.XXXXXX)
  echo "building and installing into $work/stage" >&2
  make -s -C "$root" install DESTDIR="$work/stage" PREFIX=/usr/local >"$work/install.log" 2>&1 || { cat "$work/install.log"; rm -rf "$work"; exit 1; }
  # sshd for the boards, from Debian's package, unpacked here only.
  (cd "$work" && apt-get download openssh-server >/dev/null 2>&1) && dpkg-deb -x "$work"/openssh-server_*.deb "$work/openssh" ||
    { echo "cannot fetch openssh-server's package (apt-get download openssh-server)"; rm -rf "$work"; exit 1; }
  echo "waiting for /tmp/hc-integration.lock (integration tests and benchmarks take turns)" >&2
  exec env HC_BENCH_LOCK_HELD=1 HC_BENCH_WORK="$work" flock /tmp/hc-integration.lock bash "$0" "$@"
fi
work=${HC_BENCH_WORK:?}
nspawns=()
cleanup() {
  containers_stop
  lab_down
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

lab_up 4
for b in 1 2 3; do container_start "hab-b$b" "$(lab_ns $b)" || exit 1; nspawns+=("$nspawn"); done
for b in 1 2 3; do nspawn=${nspawns[b - 1]}; container_wait "hab-b$b" || exit 1; declare "INIT$b=$init"; done
on() { local v="INIT$1"; shift; nsenter -t "${!v}" -a "$@"; }
# board_file B PATH: a board's file seen from the host, through its PID 1's root (no nsenter per poll).
board_file() { local v="INIT$1"; cat "/proc/${!v}/root$2" 2>/dev/null; }
now_ns() { date +%s%N; }
app_conf() { printf '# bench-web configuration\nnode b%s\naddress %s\nsetting %s\n' "$1" "$(lab_ip "$1")" "$2"; }

key=$(head -c 32 /dev/urandom | base64)
ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
for b in 1 2 3; do
  on $b mkdir -p /etc/bench /etc/homecloud /etc/systemd/system/hcagent.service.d /opt/bench /etc/ssh /run/sshd /root/.ssh
  # The stand-in service: what it read at its start, and when it started (written before it runs, renamed in).
  cat <<'UNIT' | on $b sh -c 'cat > /etc/systemd/system/bench-web.service'
[Unit]
Description=bench-web: a stand-in service configured by /etc/bench/app.conf
StartLimitIntervalSec=0
[Service]
ExecStart=/bin/sh -c 'cp /etc/bench/app.conf /run/bench-web.seen 2>/dev/null; echo >> /run/bench-web.starts; date +%%s%%N > /run/bench-web.started.new && mv /run/bench-web.started.new /run/bench-web.started; exec sleep infinity'
UNIT
  printf '[Service]\nReadWritePaths=/etc/bench\n' | on $b sh -c 'cat > /etc/systemd/system/hcagent.service.d/bench.conf'
  on $b systemctl daemon-reload
  on $b sh -c "echo $key > /etc/homecloud/gossip.key && chmod 600 /etc/homecloud/gossip.key"
  cat <<YAML | on $b sh -c 'cat > /etc/homecloud/agent.yaml'
node: b$b
bind: $(lab_ip $b):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964, $(lab_ip 3):7964]
interface: eth0
key_file: /etc/homecloud/gossip.key
policy:
  units: ["bench-*.service"]
  paths: ["/etc/bench/*"]
YAML
  # sshd, as a transient unit of the board's systemd, root by key only.
  on $b sh -c 'cat > /opt/bench/sshd && chmod 755 /opt/bench/sshd' <"$work/openssh/usr/sbin/sshd"
  echo 'u sshd - "sshd privilege separation" /run/sshd' | on $b systemd-sysusers - >/dev/null 2>&1
  on $b usermod -p '*' root  # unlocked (sshd refuses a locked account even for a key), still no password
  on $b ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
  on $b sh -c 'cat > /root/.ssh/authorized_keys && chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys' <"$work/id_ed25519.pub"
  printf 'ListenAddress %s\nHostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nSubsystem sftp /usr/lib/openssh/sftp-server\nPidFile /run/bench-sshd.pid\n' \
    "$(lab_ip $b)" | on $b sh -c 'cat > /etc/ssh/sshd_config'
  on $b systemd-run --quiet --unit=bench-sshd.service /opt/bench/sshd -D -e -f /etc/ssh/sshd_config
done

# The template, the same text for both: hcagent's document and Ansible's role (node and address are inventory
# variables there, as the document's nodes list them here).
template() { printf '# bench-web configuration\nnode {{ node }}\naddress {{ address }}\nsetting %s\n' "$1"; }
document() {  # document GENERATION SETTING
  printf 'generation: %s\ncluster: bench\nnodes:\n' "$1"
  for b in 1 2 3; do printf '  b%s: { roles: [web], address: %s }\n' "$b" "$(lab_ip $b)"; done
  printf 'roles:\n  web:\n    units:\n      - { name: bench-web.service, state: running }\n'
  printf '    files:\n      - path: /etc/bench/app.conf\n        restart: [bench-web.service]\n        content: |\n'
  template "$2" | sed 's/^/          /'
}
mkdir -p "$work/ansible/templates" "$work/ansible/home" "$work/ansible/cp"
{
  printf 'boards:\n  hosts:\n'
  for b in 1 2 3; do printf '    b%s: { ansible_host: %s, node: b%s, address: %s }\n' "$b" "$(lab_ip $b)" "$b" "$(lab_ip $b)"; done
  printf '  vars: { ansible_user: root, ansible_ssh_private_key_file: %s/id_ed25519 }\n' "$work"
} >"$work/ansible/inventory.yaml"
cat >"$work/ansible/ansible.cfg" <<CFG
[defaults]
inventory = $work/ansible/inventory.yaml
host_key_checking = False
interpreter_python = /usr/bin/python3
forks = 5
home = $work/ansible/home
[ssh_connection]
pipelining = True
ssh_args = -C -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null
control_path_dir = $work/ansible/cp
CFG
for facts in false true; do
  cat >"$work/ansible/site-facts-$facts.yaml" <<PLAY
- hosts: boards
  gather_facts: $facts
  tasks:
    - name: bench-web configuration
      ansible.builtin.template: { src: app.conf.j2, dest: /etc/bench/app.conf, owner: root, group: root, mode: "0644" }
      notify: restart bench-web
  handlers:
    - name: restart bench-web
      ansible.builtin.systemd: { name: bench-web.service, state: restarted }
PLAY
done
playbook() {  # playbook FACTS: one ansible-playbook run from the laptop's namespace, its output in $work/ansible.log
  ANSIBLE_CONFIG=$work/ansible/ansible.cfg lab_exec $laptop ansible-playbook "$work/ansible/site-facts-$1.yaml" >"$work/ansible.log" 2>&1
}

started_of() { board_file "$1" /run/bench-web.started; }
# restarted_with B BEFORE SETTING: board B's unit started after BEFORE (ns) with the content of SETTING, and the
# file has it now.
restarted_with() {
  local s
  s=$(started_of "$1")
  [ -n "$s" ] && [ "$s" -gt "$2" ] && [ "$(board_file "$1" /run/bench-web.seen)" = "$(app_conf "$1" "$3")" ] &&
    [ "$(board_file "$1" /etc/bench/app.conf)" = "$(app_conf "$1" "$3")" ]
}
# wait_all T0 SETTING BOARDS...: polls (5 ms) up to 20 s until each board restarted with SETTING; prints the
# last board's start time minus T0 in ms, or "fail".
wait_all() {
  local t0=$1 setting=$2 b last=0 s tries
  shift 2
  for ((tries = 0; tries < 4000; tries++)); do
    local missing=0
    for b in "$@"; do restarted_with "$b" "$t0" "$setting" || { missing=1; break; }; done
    ((missing)) || break
    sleep 0.005
  done
  ((missing)) && { echo fail; return; }
  for b in "$@"; do s=$(started_of "$b"); ((s > last)) && last=$s; done
  echo $(((last - t0) / 1000000))
}
# hand_edit B: the edit an operator makes on a board (a line appended in place).
hand_edit() { local v="INIT$1"; echo "# edited by hand" >>"/proc/${!v}/root/etc/bench/app.conf"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# Every start of the unit adds a line to /run/bench-web.starts: a change must restart each board's unit once.
starts_all() { local b; for b in 1 2 3; do board_file $b /run/bench-web.starts | wc -l; done | tr '\n' ' '; }
# extra_starts BEFORE AFTER BOARDS...: starts beyond one on each of BOARDS (and beyond none elsewhere).
extra_starts() {
  local before=($1) after=($2) b extra=0 delta
  shift 2
  for b in 1 2 3; do
    delta=$((after[b - 1] - before[b - 1]))
    [[ " $* " == *" $b "* ]] && delta=$((delta - 1))
    ((delta != 0)) && extra=$((extra + (delta < 0 ? -delta : delta)))
  done
  echo $extra
}
odd_starts=()
# count_starts CASE BOARDS...: after a run (and a second's calm), notes a board whose unit did not start exactly
# once (BOARDS) or started at all (the others) since $before.
count_starts() {
  local case=$1 extra
  shift
  extra=$(extra_starts "$before" "$(starts_all)" "$@")
  ((extra == 0)) || { odd_starts+=("$case: $extra"); echo "    ($extra starts more or fewer than one per board changed)"; }
}
declare -A results

echo "Managed files beside Ansible: 3 boards (systemd-nspawn, real systemd), $(date -u '+%F %H:%M UTC'), load $(load), $(nproc) cores"
for b in 1 2 3; do on $b systemctl start hcagent.service; done
all_alive() {
  local b
  for b in 1 2 3; do
    on $b hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
sys.exit(any(view.get(n) != "alive" for n in ("b1", "b2", "b3")))' || return 1
  done
}
wait_until 30 all_alive || { echo "the three agents did not see each other alive"; exit 1; }
generation=1
setting=1
document $generation $setting | on 1 sh -c 'cat > /root/d.yaml'
on 1 hcctl apply /root/d.yaml >/dev/null || { echo "hcctl apply of the first document failed"; exit 1; }
[ "$(wait_all 0 $setting 1 2 3)" != fail ] || { echo "the first document did not reach every board"; for b in 1 2 3; do on $b journalctl -u hcagent -n 20 --no-pager; done; exit 1; }
sleep 1

echo "  hcagent (load $(load))"
times=()
for ((r = 0; r < repeats; r++)); do
  generation=$((generation + 1)) setting=$((setting + 1))
  document $generation $setting >"/proc/$INIT1/root/root/d.yaml"
  before=$(starts_all)
  t0=$(now_ns)
  on 1 hcctl apply /root/d.yaml >/dev/null || { times+=(fail); continue; }
  applied=$((($(now_ns) - t0) / 1000000))
  ms=$(wait_all "$t0" $setting 1 2 3)
  times+=("$ms")
  echo "    a) changed file, apply on b1 to the 3 units restarted: $ms ms (hcctl apply returned after $applied ms)"
  sleep 1
  count_starts a 1 2 3
done
results[a]=$(summary "${times[@]}")
times=()
for ((r = 0; r < repeats; r++)); do
  b=$((r % 3 + 1))
  before=$(starts_all)
  t0=$(now_ns)
  hand_edit $b
  ms=$(wait_all "$t0" $setting $b)
  times+=("$ms")
  echo "    b) hand edit on b$b repaired, unit restarted: $ms ms"
  sleep 1
  count_starts b $b
done
results[b]=$(summary "${times[@]}")
[ -n "${KEEP_WORK:-}" ] && for b in 1 2 3; do on $b journalctl -u hcagent.service --no-pager -o short-precise >"$work/hcagent-b$b.log"; done

# Ansible's turn: hcagent steps aside (stopped), the boards and the unit stay.
for b in 1 2 3; do on $b systemctl stop hcagent.service; done
echo "  ansible-playbook $(ansible-playbook --version | head -1 | sed 's/.*core //; s/\]//') over ssh (load $(load))"
template $setting >"$work/ansible/templates/app.conf.j2"
playbook false || { echo "the first ansible-playbook run failed:"; cat "$work/ansible.log"; exit 1; }
grep -q 'b1 .*failed=0' "$work/ansible.log" || { cat "$work/ansible.log"; exit 1; }
for facts in false true; do
  times=()
  for ((r = 0; r < repeats; r++)); do
    setting=$((setting + 1))
    template $setting >"$work/ansible/templates/app.conf.j2"
    before=$(starts_all)
    t0=$(now_ns)
    playbook $facts || { echo "ansible-playbook failed:"; tail -20 "$work/ansible.log"; times+=(fail); continue; }
    ran=$((($(now_ns) - t0) / 1000000))
    ms=$(wait_all "$t0" $setting 1 2 3)
    times+=("$ms")
    echo "    c) changed template (gather_facts: $facts), playbook start to the 3 units restarted: $ms ms (it exited after $ran ms)"
    sleep 1
    count_starts "c (facts: $facts)" 1 2 3
  done
  results[c$facts]=$(summary "${times[@]}")
done
times=()
for ((r = 0; r < repeats; r++)); do
  b=$((r % 3 + 1))
  before=$(starts_all)
  t0=$(now_ns)
  hand_edit $b
  playbook false || { echo "ansible-playbook failed:"; tail -20 "$work/ansible.log"; times+=(fail); continue; }
  ran=$((($(now_ns) - t0) / 1000000))
  ms=$(wait_all "$t0" $setting $b)
  grep -q "changed=[1-9]" "$work/ansible.log" || echo "    (this run changed nothing?)"
  times+=("$ms")
  echo "    d) hand edit on b$b, a playbook run started at once, repaired and restarted: $ms ms (it exited after $ran ms)"
  sleep 1
  count_starts d $b
done
results[d]=$(summary "${times[@]}")

echo "Managed files beside Ansible, $(date -u '+%F %H:%M UTC'), load $(load), $repeats runs each (min / median / max):"
echo "  hcagent, changed file (hcctl apply on b1) to all 3 written and restarted:      ${results[a]}"
echo "  hcagent, hand edit repaired and the unit restarted:                          ${results[b]}"
echo "  ansible-playbook, changed template to all 3 written and restarted:           ${results[cfalse]}"
echo "  ansible-playbook with fact gathering (its default), the same:                ${results[ctrue]}"
echo "  ansible-playbook, a run started right after a hand edit, repaired, restarted: ${results[d]}"
if ((${#odd_starts[@]})); then echo "  starts other than one per changed board: ${odd_starts[*]}"; else echo "  each change started the unit exactly once on each board it changed, and nowhere else"; fi
