#!/usr/bin/env bash
# The monitoring examples hold: examples/prometheus/alerts.yml passes promtool's check and its unit tests, the
# Grafana dashboard's queries parse, and every hcagent_* name either uses is one the agent exports (the
# `label: "hcagent_..."` strings in Sources/). Then two agents on a namespace LAN really export the cluster's
# metrics (each VIP's state and holder, each member's state, gossip traffic) with the values the boards see,
# and `hcctl status` opens with the same headline, on its own and in --watch. Needs promtool (Debian's
# prometheus package) and root (network namespaces).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"
LAB_NAME=hcmon
LAB_NET=10.97.0
source "$root/scripts/lab.sh"
require_root
bin=${BIN:-$root/.build/release}

rules=$root/examples/prometheus/alerts.yml
rule_tests=$root/examples/prometheus/alerts-test.yml
dashboard=$root/examples/grafana/hcagent.json
work=$(mktemp -d /tmp/hct-monitoring.XXXXXX)
trap 'lab_down; [ -n "${KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT

# The names the agent exports: each label of a counter or gauge, and a timer's histogram series.
exported_names() {
  grep -rhoE 'label: "hcagent_[a-z0-9_]+"' "$root/Sources" | sed -E 's/label: "(.*)"/\1/'
  # Series made from the status values (ClusterMetrics.swift).
  grep -rhoE 'Series\("hcagent_[a-z0-9_]+"' "$root/Sources" | sed -E 's/.*"(.*)"/\1/'
  grep -rhoE 'Timer\(label: "hcagent_[a-z0-9_]+"' "$root/Sources" | sed -E 's/.*"(.*)"/\1/' |
    while read -r timer; do printf '%s_bucket\n%s_sum\n%s_count\n' "$timer" "$timer" "$timer"; done
}
exported_names | sort -u >"$work/exported"

# unknown_names FILE...: prints each hcagent_* name in the files that the agent does not export; fails if any.
unknown_names() {
  grep -hoE 'hcagent_[a-z0-9_]+' "$@" | sort -u >"$work/used"
  [ -s "$work/used" ] || { echo "no hcagent_* name found in $*"; return 1; }
  local unknown
  unknown=$(comm -23 "$work/used" "$work/exported")
  [ -z "$unknown" ] || { echo "not exported by the agent:"; echo "$unknown"; return 1; }
}

# The dashboard's queries, one a line, with Grafana's variables given values Prometheus can parse.
dashboard_queries() {
  python3 -c '
import json, sys
dashboard = json.load(open(sys.argv[1]))
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        print(target["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*"))
' "$dashboard"
}

# Every query as a recording rule, so promtool parses each one.
queries_parse() {
  dashboard_queries >"$work/queries" || return 1
  [ -s "$work/queries" ] || { echo "the dashboard has no queries"; return 1; }
  python3 -c '
import json, sys
rules = [{"record": "dashboard:query%d" % i, "expr": line.rstrip("\n")} for i, line in enumerate(open(sys.argv[1]))]
print(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
' "$work/queries" >"$work/dashboard-rules.yml" && promtool check rules "$work/dashboard-rules.yml"
}

# The dashboard shows what the issue asks: members, VIP holder and transitions, units, probes, refused documents,
# gossip traffic and drops.
dashboard_covers() {
  local name missing=0
  for name in hcagent_gossip_members_alive hcagent_member_state hcagent_vip_state hcagent_vip_holder hcagent_vrrp_transitions_total \
    hcagent_units hcagent_probe_health hcagent_desired_refused_total hcagent_gossip_packets_total hcagent_gossip_bytes_total \
    hcagent_gossip_packets_dropped_total; do
    grep -qE "\b$name\b" "$work/queries" || { echo "no panel shows $name"; missing=1; }
  done
  return $missing
}

echo "the monitoring examples (promtool $(promtool --version 2>/dev/null | awk 'NR == 1 {print $3}'))"
check "promtool is installed (Debian's prometheus package; scripts/install-deps.sh)" command -v promtool
check "the agent's sources export hcagent_* metrics ($(wc -l <"$work/exported") names)" test -s "$work/exported"
check "alerts.yml passes promtool check rules" promtool check rules "$rules"
check "alerts.yml passes its unit tests (promtool test rules alerts-test.yml)" promtool test rules "$rule_tests"
check "alerts.yml uses only metrics the agent exports" unknown_names "$rules"
check "alerts-test.yml feeds only metrics the agent exports" unknown_names "$rule_tests"
check "hcagent.json is valid JSON" python3 -m json.tool "$dashboard"
check "every dashboard query parses (promtool)" queries_parse
check "hcagent.json uses only metrics the agent exports" unknown_names "$dashboard"
check "the dashboard shows members, VIP holder and transitions, units, probes, refused documents, gossip traffic" dashboard_covers
# The alerts the issue asks for, on the new metrics.
check "alerts.yml has VIP without holder and member dead" bash -c "grep -q 'hcagent_vip_has_holder' '$rules' && grep -q 'hcagent_member_state' '$rules'"
# The name check itself: it must refuse a name the agent does not export.
printf 'expr: rate(hcagent_no_such_metric_total[5m])\n' >"$work/bogus.yml"
check "the name check refuses an unknown name (hcagent_no_such_metric_total)" bash -c "$(declare -f unknown_names); work=$work; ! unknown_names $work/bogus.yml"

# Two agents on a LAN: n1 holds the VIP (higher priority), n2 backs it up; n3 is in the document but never runs.
echo "two agents in namespaces ($bin)"
lab_up 2
head -c 32 /dev/urandom | base64 >"$work/gossip.key"
cat >"$work/desired.yaml" <<YAML
generation: 1
cluster: mon
nodes: { n1: [], n2: [], n3: [] }
vips:
  - { name: front, address: $(lab_ip 250)/24, interface: eth0, vrid: 97, advert: 100ms, priority: { default: 100, n1: 200 } }
YAML
for i in 1 2; do
  mkdir -p "$work/n$i/state"
  cat >"$work/n$i/agent.yaml" <<YAML
node: n$i
bind: $(lab_ip $i):7964
join: [$(lab_ip 1):7964, $(lab_ip 2):7964]
socket: $work/n$i/hc.sock
key_file: $work/gossip.key
state_dir: $work/n$i/state
desired: $work/desired.yaml
metrics: 127.0.0.1:9646
YAML
  lab_start "$i" "$work/n$i/log" "$bin/hcagent" --config "$work/n$i/agent.yaml" >/dev/null
done
scrape() { lab_exec "$1" curl -sf http://127.0.0.1:9646/metrics; }
# has BOARD SERIES VALUE: BOARD's page has the series with that value (gauges print as 1.0)
has() { scrape "$1" | grep -qxF "$2 $3"; }
# positive BOARD SERIES: the counter is above 0
positive() { scrape "$1" | grep -F "$2 " | awk '{exit !($2 > 0)}'; }
status_json() { "$bin/hcctl" --socket "$work/n$1/hc.sock" status --json; }

check "n1 exports hcagent_vip_state{state=master} 1 for the VIP it holds" wait_until 15 has 1 'hcagent_vip_state{vip="front",state="master"}' 1.0
check "n1's one-hot VIP state: backup is 0" has 1 'hcagent_vip_state{vip="front",state="backup"}' 0.0
check "n2 is backup and names n1 the holder (hcagent_vip_holder)" wait_until 10 has 2 'hcagent_vip_holder{vip="front",node="n1"}' 1.0
check "n2's hcagent_vip_state{state=backup} is 1" has 2 'hcagent_vip_state{vip="front",state="backup"}' 1.0
both_see_a_holder() { has 1 'hcagent_vip_has_holder{vip="front"}' 1.0 && has 2 'hcagent_vip_has_holder{vip="front"}' 1.0; }
check "both see a holder (hcagent_vip_has_holder)" both_see_a_holder
check "n1 sees n2 alive (hcagent_member_state one-hot)" wait_until 10 has 1 'hcagent_member_state{member="n2",state="alive"}' 1.0
check "n1's member_state of n2: dead is 0" has 1 'hcagent_member_state{member="n2",state="dead"}' 0.0
check "n3, in the document but never joined, is absent on n1" has 1 'hcagent_member_state{member="n3",state="absent"}' 1.0
packets_counted() { positive 1 'hcagent_gossip_packets_total{direction="sent"}' && positive 1 'hcagent_gossip_packets_total{direction="received"}'; }
bytes_counted() {
  positive 1 'hcagent_gossip_bytes_total{direction="sent",transport="udp"}' && positive 1 'hcagent_gossip_bytes_total{direction="received",transport="udp"}'
}
check "gossip packets sent and received are counted" packets_counted
check "gossip bytes sent and received are counted (udp)" bytes_counted
# Every new name, from a running agent's page (not only from the sources).
scrape 1 | grep -oE '^hcagent_[a-z0-9_]+' | sort -u >"$work/served"
for name in hcagent_vip_state hcagent_vip_holder hcagent_vip_has_holder hcagent_member_state hcagent_gossip_packets_total hcagent_gossip_bytes_total; do
  check "a running agent serves $name" grep -qx "$name" "$work/served"
done
no_address_in_labels() { ! scrape 1 | grep -E '^hcagent_(vip|member)_' | grep -F "$LAB_NET"; }
check "no address in a label of the new metrics" no_address_in_labels

# The headline: hcctl status opens with it, status JSON carries it, --watch shows it and ends with 0 on Ctrl-C.
headline_is() {  # headline_is BOARD PREFIX
  local line
  line=$("$bin/hcctl" --socket "$work/n$1/hc.sock" status | head -1)
  echo "$line"
  [[ "$line" == "$2"* ]] && [ "$line" = "$(status_json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["headline"])')" ]
}
check "hcctl status opens with the headline: healthy, 2 of 2 members, VIP front on n1" wait_until 10 headline_is 2 "healthy: 2 of 2 members alive, VIP front on n1"
watch_ends_on_ctrl_c() {
  timeout --preserve-status -s INT 2.5 "$bin/hcctl" --socket "$work/n1/hc.sock" status --watch >"$work/watch.out"
  local rc=$?
  echo "exit $rc"; head -3 "$work/watch.out"
  [ "$rc" = 0 ] && head -1 "$work/watch.out" | grep -q '^healthy: ' && ! grep -q $'\e\[' "$work/watch.out"
}
check "hcctl status --watch into a pipe: the status, no ANSI, exit 0 on Ctrl-C" watch_ends_on_ctrl_c

# n2's link goes dark: n1 declares it dead, in its metrics and its headline.
lab_cut 2
check "n1's hcagent_member_state{member=n2,state=dead} becomes 1" wait_until 30 has 1 'hcagent_member_state{member="n2",state="dead"}' 1.0
check "n1's headline names the dead member" wait_until 5 headline_is 1 "attention: member n2 dead"
finish
