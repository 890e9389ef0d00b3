#!/usr/bin/env bash
# A power cut on real systemd boards: five systemd-nspawn boards on one namespace LAN, each starting hcagent from
# its own systemd at boot, under a signed document with node keys and units (placement all, one, and
# vip:front) and a VIP. Every board is killed at once (SIGKILL to each container's init: its volatile root,
# /run and the journal go; /etc/homecloud and state_dir, bound from the host, are the SD card and stay) and
# booted again in a seeded random order, each at a random instant 0-5 s after the power's return; b1 and b4
# know no peer from agent.yaml, the others one. One board missed the newest generation (its link was cut when it
# was applied), and one comes back with an empty state_dir under its old name (its SD card replaced): a new node
# key, no document, no peers, no incarnation. The cluster must come back whole: every board sees the five
# alive, runs the newest generation, one VIP holder, hpb-every on all five, hpb-front on the holder only,
# hpb-single on exactly one board; the replaced board says that its new key is not the bound one, the others
# do not believe its metadata until a signed document binds the new key, and then they do.
# ROUNDS (default 1) power cuts in a row; SEED fixes the order and the delays (printed, so a run replays).
# REPLACE=0 replaces no SD card: then every board's metadata is believed at once after the cut, which the fast
# start of hpb-single needs (SingletonFastStart.swift); with a replaced board it waits the takeover delay.
# `ROUNDS=10 bash Tests/integration/power-cut-boards.sh` is the benchmark (issue 16, item 4; docs/benchmarks.md).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
source "$here/lib/container.sh"
LAB_NAME=hpb
LAB_NET=10.74.0
source "$root/scripts/lab.sh"
require_root

bin=${BIN:-$root/.build/release}
rounds=${ROUNDS:-1}
replace=${REPLACE:-1}
seed=${SEED:-$RANDOM}
RANDOM=$seed
echo "(seed $seed, $rounds rounds: SEED=$seed ROUNDS=$rounds replays the order and the delays)"
work=$(mktemp -d /tmp/hpb.XXXXXX)
declare -A NSPAWN INIT
cleanup() {
  local nspawns=(${NSPAWN[@]+"${NSPAWN[@]}"})
  ((${#nspawns[@]})) && containers_stop
  lab_down
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
vip=$(lab_ip 250)
started=$SECONDS
boards="1 2 3 4 5"

# The installed agent, and the stand-in units every board has (the same files on every board: /usr/local is
# the stage, read-only in each board).
make -s -C "$root" install DESTDIR="$work/stage" PREFIX=/usr/local >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
for unit in every single front; do
  printf '[Unit]\nDescription=power-cut stand-in (%s)\n[Service]\nExecStart=/bin/sleep infinity\n' "$unit" \
    >"$work/stage/usr/local/lib/systemd/system/hpb-$unit.service"
done

lab_up 5
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
"$bin/hcctl" keys admin generate --out "$work/admin.key" >"$work/admin.pub" 2>/dev/null
# Who each board knows from agent.yaml: b1 and b4 nobody, the others one. For the first start b5 also names b4,
# so that the five form one cluster; after it only the peers each state_dir keeps lead to b4.
declare -A joins=([1]="" [2]="1" [3]="2" [4]="" [5]="3 4")
for b in $boards; do
  mkdir -p "$work/b$b/etc" "$work/b$b/state"
  peers=""
  for p in ${joins[$b]}; do peers+="${peers:+, }$(lab_ip $p):7964"; done
  cp "$work/gossip.key" "$work/b$b/etc/gossip.key"
  chmod 600 "$work/b$b/etc/gossip.key"
  cat >"$work/b$b/etc/agent.yaml" <<YAML
node: b$b
bind: $(lab_ip $b):7964
join: [$peers]
interface: eth0
key_file: /etc/homecloud/gossip.key
trusted_admin_keys:
  - $(cat "$work/admin.pub")
YAML
done

# Power on board B: its SD card (agent.yaml, gossip key, state_dir) bound in; hcagent starts at boot.
container_boot_args=(systemd.wants=hcagent.service)
power_on() {
  container_options=(--bind="$work/b$1/etc:/etc/homecloud" --bind="$work/b$1/state:/var/lib/homecloud")
  container_start "hpb-b$1" "$(lab_ns "$1")"
  NSPAWN[$1]=$nspawn
}
# Sets INIT[B] once board B's systemd runs (its PID 1), and waits for its boot when asked.
find_init() {
  local nspawn=${NSPAWN[$1]}
  wait_until 30 container_init_pid || { echo "b$1 did not boot"; cat "$work/console-hpb-b$1.log"; return 1; }
  INIT[$1]=$(container_init_pid)
}
on() { local b=$1; shift; nsenter -t "${INIT[$b]}" -a "$@"; }
sock() { echo "/proc/${INIT[$1]}/root/run/homecloud/hcagent.sock"; }
hc() { local b=$1; shift; timeout 10 "$bin/hcctl" --socket "$(sock "$b")" "$@"; }
generation_of() { hc "$1" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["desired"].get("generation"))'; }
holds() { output_has "inet $vip/" ip -n "$(lab_ns "$1")" -4 addr show dev eth0; }
whole() { local b specs=(); for b in $boards; do specs+=("b$b=$(sock $b)=$(lab_ns $b)"); done
  python3 "$here/lib/cluster_whole.py" "$1" "$2" "$3" "$vip" "${specs[@]}"; }
# Units as the document wants them: hpb-every everywhere, hpb-front on the VIP holder only, hpb-single on one.
units_look() {
  local b every=0 single="" front="" held=""
  for b in $boards; do
    states=($(on $b systemctl is-active hpb-every.service hpb-single.service hpb-front.service 2>/dev/null))
    [ "${states[0]:-}" = active ] && every=$((every + 1))
    [ "${states[1]:-}" = active ] && single+="b$b "
    [ "${states[2]:-}" = active ] && front+="b$b "
    holds $b && held+="b$b "
  done
  echo "hpb-every on $every, hpb-single on ${single:-none}, hpb-front on ${front:-none}, VIP on ${held:-none}"
}
units_converged() { local l; l=$(units_look); echo "$l"
  [[ $l =~ ^hpb-every\ on\ 5,\ hpb-single\ on\ b[0-9]\ ,\ hpb-front\ on\ (b[0-9])\ ,\ VIP\ on\ (b[0-9])\ $ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; }
identity_of() { hc "$1" members --json | python3 -c '
import json, sys
print(next((m.get("identity") for m in json.load(sys.stdin) if m["name"] == sys.argv[1]), None))' "$2"; }
all_verified() { local b n; for b in $boards; do for n in $boards; do
  [ "$n" = "$b" ] && continue; [ "$(identity_of $b b$n)" = verified ] || { echo "b$b sees b$n $(identity_of $b b$n)"; return 1; }; done; done; }
node_key_line() { on "$1" hcctl keys node 2>/dev/null; }  # stdout: the public line alone
document() {
  cat <<YAML
generation: $1
cluster: hpb
nodes: { b1: [app], b2: [app], b3: [app], b4: [app], b5: [app] }
node_keys:
YAML
  local b
  for b in $boards; do echo "  b$b: \"$(cat "$work/b$b.pub")\""; done
  cat <<YAML
roles:
  app:
    units:
      - { name: hpb-every.service, state: running, placement: all }
      - { name: hpb-single.service, state: running, placement: one }
      - { name: hpb-front.service, state: running, placement: "vip:front" }
vips:
  - { name: front, address: $vip/24, interface: eth0, vrid: 74, advert: 100ms, priority: { default: 100, b1: 150, b2: 140, b3: 130, b4: 120 } }
YAML
}
# Applies the next generation, signed, on board B; sets $generation to what B says it now runs.
apply_next() {
  document $((generation + 1)) >"$work/doc.yaml"
  hc "$1" apply "$work/doc.yaml" --sign "$work/admin.key" >"$work/apply.out" 2>&1 || { cat "$work/apply.out"; return 1; }
  generation=$(sed -n 's/^generation \([0-9]*\) accepted$/\1/p' "$work/apply.out")
  [ -n "$generation" ] || { cat "$work/apply.out"; return 1; }
}
identity_is() { local now; now=$(identity_of "$1" "$2"); echo "b$1 sees $2: $now"; [ "$now" = "$3" ]; }
all_on_generation_verified() { local b; for b in $boards; do [ "$(generation_of $b)" = "$generation" ] || { echo "b$b runs $(generation_of $b)"; return 1; }; done; all_verified; }
all_but_offline_on_generation() { local b g; for b in $boards; do g=$(generation_of $b); echo "b$b runs $g"
  if [ $b = "$offline" ]; then [ "$g" = $((generation - 1)) ] || return 1; else [ "$g" = "$generation" ] || return 1; fi; done; }
says_new_key() { on "$1" journalctl -u hcagent.service -o cat | grep -F 'made at this start' | grep -qF "$(cat "$work/b$1.pub")"; }
# The checks are shell functions run by check and wait_until in this shell (INIT, an associative array, is not
# exported).
no_crash() { local b; for b in $boards; do
  on $b journalctl -u hcagent.service -o cat 2>/dev/null | grep -E 'Fatal error|fatal error|Trace/breakpoint|Segmentation' && return 1
  [ "$(on $b systemctl show -p NRestarts --value hcagent.service)" = 0 ] || { echo "b$b: hcagent restarted"; return 1; }; done; return 0; }

echo "first boot"
for b in $boards; do power_on $b; done
for b in $boards; do find_init $b || exit 1; done
for b in $boards; do nspawn=${NSPAWN[$b]} init=${INIT[$b]}; wait_until 60 container_booted || { echo "b$b did not finish booting"; exit 1; }; done
echo "  (5 boards booted in $((SECONDS - started)) s)"
check "hcagent started at boot on every board, and made its node key" wait_until 20 bash -c "
  for b in $boards; do test -s $work/b\$b/state/node.key || exit 1; done"
for b in $boards; do node_key_line $b >"$work/b$b.pub"; done
check "the five node keys differ" test "$(sort -u "$work"/b?.pub | grep -c ed25519)" = 5
generation=0
check "a signed document with node_keys and units is applied on b1" apply_next 1
# b5's agent.yaml names only b3 from now on: b4 is known to the others by their peers files alone.
sed -i "s|^join: .*|join: [$(lab_ip 3):7964]|" "$work/b5/etc/agent.yaml"
out=$(whole "$(date +%s%N)" 30 "$generation")
check "the five form one cluster on generation $generation with one VIP holder ($out)" test $? = 0
check "every board believes every other's metadata (verified)" wait_until 15 all_verified
check "units converge: hpb-every on all, hpb-front on the holder only, hpb-single on one board" wait_until 40 units_converged

figures=()
agent_figures=()
single_figures=()
for ((round = 1; round <= rounds; round++)); do
  offline=$((RANDOM % 5 + 1))
  replaced=$((RANDOM % 5 + 1))
  [ "$replace" = 0 ] && replaced=""
  applier=$((offline % 5 + 1))
  echo "power cut $round: b$offline misses generation $((generation + 1))${replaced:+; b$replaced comes back with an empty state_dir}"
  lab_cut "$offline"
  check "generation $((generation + 1)) applied on b$applier while b$offline is cut off" apply_next "$applier"
  check "the others run it, b$offline does not" wait_until 15 all_but_offline_on_generation
  [ -n "$replaced" ] && old_key=$(cat "$work/b$replaced.pub")

  # The cut: every board's PID 1 killed at once, so every process on it dies with it; nspawn then exits and
  # the volatile root (/run, /etc, /var but for the bound state_dir) is gone. What the LAN namespace keeps, a
  # reboot would clear: the VIP on eth0.
  kill -KILL "${INIT[@]}"
  for b in $boards; do wait "${NSPAWN[$b]}" 2>/dev/null; ip -n "$(lab_ns $b)" -4 addr del "$vip/24" dev eth0 2>/dev/null; done
  if [ -n "$replaced" ]; then
    rm -rf "$work/b$replaced/state"
    mkdir -p "$work/b$replaced/state"
  fi
  lab_heal "$offline"
  order=$(printf '%s\n' $boards | while read -r b; do echo "$RANDOM $b"; done | sort -n | cut -d' ' -f2 | tr '\n' ' ')
  delays=()
  for b in $order; do delays+=("$((RANDOM % 5001))"); done
  sorted=($(printf '%s\n' "${delays[@]}" | sort -n))
  echo "  order: $order; power on at ${sorted[*]} ms"
  back=$(date +%s%N)
  k=0
  for b in $order; do
    wait_ns=$((back + sorted[k] * 1000000 - $(date +%s%N)))
    ((wait_ns > 0)) && sleep "$(awk -v n=$wait_ns 'BEGIN { printf "%.3f", n / 1e9 }')"
    power_on "$b"
    last=$(date +%s%N)
    k=$((k + 1))
  done
  for b in $boards; do find_init $b || exit 1; done
  out=$(whole "$last" 60 "$generation")
  ok=$?
  ((ok == 0)) && whole_at=$((last + out * 1000000))
  check "round $round: whole again (all five alive everywhere, generation $generation everywhere, one VIP holder) ($out ms after the last power-on)" test "$ok" = 0
  ((ok == 0)) || echo "        | $out"
  # Measured from the last agent's start too (its process, from its board's systemd): the boot before it is
  # the board's, not the agent's.
  offset=$(python3 -c 'import time; print(time.time_ns() - time.monotonic_ns())')
  agent_start=0
  for b in $boards; do
    t=$(on $b systemctl show -p ExecMainStartTimestampMonotonic --value hcagent.service)
    ((t * 1000 + offset > agent_start)) && agent_start=$((t * 1000 + offset))
  done
  # Units, polled until they are as the document says: hpb-single starts on its home board as soon as that board
  # has fresh proof from the four others that none runs it or waits to (SingletonFastStart.swift); without it
  # (a board's metadata not believed, as the replaced one's), after the takeover delay (12 s at 5 nodes).
  every_front_at="" single_at="" looks=0 doubles=0
  while :; do
    look=$(units_look)
    looks=$((looks + 1))
    [[ $look =~ hpb-single\ on\ b[0-9]\ b[0-9] ]] && doubles=$((doubles + 1)) && echo "  (two copies: $look)"
    [ -z "$every_front_at" ] && [[ $look =~ ^hpb-every\ on\ 5,.*hpb-front\ on\ (b[0-9])\ ,\ VIP\ on\ (b[0-9])\ $ ]] &&
      [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && every_front_at=$(date +%s%N)
    [ -z "$single_at" ] && [[ $look =~ hpb-single\ on\ b[0-9]\ , ]] && single_at=$(date +%s%N)
    [ -n "$every_front_at" ] && [ -n "$single_at" ] && break
    (($(date +%s%N) - last > 90000000000)) && break
    sleep 0.05
  done
  check "round $round: hpb-single never ran on two boards at once ($looks looks)" test "$doubles" = 0
  check "round $round: units converged: $(units_look)" units_converged
  if ((ok == 0)) && [ -n "$every_front_at" ] && [ -n "$single_at" ]; then
    all_at=$((whole_at > every_front_at ? whole_at : every_front_at))
    figures+=($(((all_at - last) / 1000000)))
    agent_figures+=($(((all_at - agent_start) / 1000000)))
    single_figures+=($(((single_at - last) / 1000000)))
    echo "  (membership, generation, VIP, hpb-every and hpb-front: $(((all_at - last) / 1000000)) ms after the last power-on, $(((all_at - agent_start) / 1000000)) ms after the last agent's start; hpb-single: $(((single_at - last) / 1000000)) ms after the last power-on)"
  fi

  # The replaced board: a new node key, and it says what to do about it; the others keep its last verified
  # metadata until the admin binds the new key.
  if [ -n "$replaced" ]; then
    node_key_line $replaced >"$work/b$replaced.pub"
    check "round $round: b$replaced made a new node key in its empty state_dir" test "$(cat "$work/b$replaced.pub")" != "$old_key"
    check "round $round: b$replaced logs that its new key is not the bound one, with the line to bind" wait_until 5 says_new_key $replaced
    other=$((replaced % 5 + 1))
    check "round $round: b$other does not believe b$replaced's metadata (refused (signature))" wait_until 10 identity_is $other b$replaced 'refused (signature)'
    check "round $round: a signed document binding b$replaced's new key is applied on b$other" apply_next "$other"
  fi
  check "round $round: every board runs generation $generation and believes every other's metadata" wait_until 20 all_on_generation_verified
  check "round $round: no agent crashed or was restarted by systemd" no_crash
done

if ((${#figures[@]} > 0)); then
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
  echo "  (whole with hpb-every and hpb-front, after the last power-on: median $(median "${figures[@]}") ms of ${#figures[@]}; each: ${figures[*]} ms)"
  echo "  (the same after the last agent's start: median $(median "${agent_figures[@]}") ms; each: ${agent_figures[*]} ms)"
  echo "  (hpb-single active on one board, after the last power-on: median $(median "${single_figures[@]}") ms; each: ${single_figures[*]} ms)"
fi
echo "  (test took $((SECONDS - started)) s)"
finish
