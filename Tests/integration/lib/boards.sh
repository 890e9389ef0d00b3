# boards.sh: the per-board prologue of a lab of nspawn boards: boot them all at once, `on BOARD CMD`, and each
# board's gossip key and agent.yaml. Source after checks.sh, container.sh and scripts/lab.sh; needs $root,
# $work and the array nspawns (containers_stop stops them).

# boards_boot PREFIX BOARD...: boots the boards (containers PREFIX-bBOARD on lab namespace BOARD) together:
# every container starts, then each is waited for. Sets and exports INIT<BOARD> (the board's PID 1) for `on`.
boards_boot() {
  local prefix=$1 b first=${#nspawns[@]} i=0
  shift
  for b in "$@"; do container_start "$prefix-b$b" "$(lab_ns $b)" || return 1; nspawns+=("$nspawn"); done
  for b in "$@"; do
    nspawn=${nspawns[first + i]}
    i=$((i + 1))
    container_wait "$prefix-b$b" || return 1
    declare -gx "INIT$b=$init"
  done
  nspawn=
}

# boards_cleanup: a boards script's EXIT trap: stops its containers and the lab, removes $work (kept, and said
# so, with KEEP_WORK=1).
boards_cleanup() {
  containers_stop
  lab_down
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"
}

# on BOARD CMD...: runs CMD on that board (in its container, all its namespaces).
on() { local v="INIT$1"; shift; nsenter -t "${!v}" -a "$@"; }
export -f on

# board_agent_config BOARD JOIN [MORE]: the board's /etc/homecloud/gossip.key (one key for the whole lab, in
# $gossip_key, made on first use) and /etc/homecloud/agent.yaml: node bBOARD bound to its lab address on
# eth0, joining the boards in JOIN ("1 2 3"), then the lines of MORE (a policy, say) as they are.
board_agent_config() {
  local b=$1 join="" j more=${3:-}
  [ -n "$more" ] && more+=$'\n'
  [ -n "${gossip_key:-}" ] || gossip_key=$(head -c 32 /dev/urandom | base64)
  for j in $2; do join+="$(lab_ip $j):7964, "; done
  on $b mkdir -p /etc/homecloud
  on $b sh -c "echo $gossip_key > /etc/homecloud/gossip.key && chmod 600 /etc/homecloud/gossip.key"
  printf 'node: b%s\nbind: %s:7964\njoin: [%s]\ninterface: eth0\nkey_file: /etc/homecloud/gossip.key\n%s' \
    "$b" "$(lab_ip $b)" "${join%, }" "$more" | on $b sh -c 'cat > /etc/homecloud/agent.yaml'
}

# converged_on UNIT BOARD...: every one of the boards' reconcilers reports UNIT converged (nobody waits to start
# or stop it); prints what each said.
converged_on() {
  local unit=$1 b
  shift
  for b in "$@"; do
    on $b hcctl status --json | python3 -c '
import json, sys
u = [u for u in json.load(sys.stdin)["units"] if u["name"] == sys.argv[1]]
print("b" + sys.argv[2], u)
sys.exit(not u or u[0].get("state") != "converged")' "$unit" $b || return 1
  done
}
export -f converged_on

# boards_alive BOARD...: each of these boards' agents sees every one of them (bBOARD) alive in gossip.
boards_alive() {
  local b
  for b in "$@"; do
    on $b hcctl members --json | python3 -c '
import json, sys
view = {m["name"]: m["state"] for m in json.load(sys.stdin)}
sys.exit(any(view.get("b" + n) != "alive" for n in sys.argv[1:]))' "$@" || return 1
  done
}
# file_state BOARD PATH: "STATE|REASON|WRITES" of a managed file in that board's status (nothing if it has none).
file_state() { on "$1" hcctl status --json | python3 -c '
import json, sys
for f in json.load(sys.stdin).get("files") or []:
    if f["path"] == sys.argv[1]: print("%s|%s|%s" % (f["state"], f.get("reason", ""), f.get("writes", 0)))' "$2"; }
export -f boards_alive file_state
