#!/usr/bin/env bash
# The monitoring examples hold: examples/prometheus/alerts.yml passes promtool's check and its unit tests, the
# Grafana dashboard's queries parse, and every hcagent_* name either uses is one the agent exports (the
# `label: "hcagent_..."` strings in Sources/). No agent runs; needs promtool (Debian's prometheus package).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib/checks.sh"

rules=$root/examples/prometheus/alerts.yml
rule_tests=$root/examples/prometheus/alerts-test.yml
dashboard=$root/examples/grafana/hcagent.json
work=$(mktemp -d /tmp/hct-monitoring.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The names the agent exports: each label of a counter or gauge, and a timer's histogram series.
exported_names() {
XX
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

# The dashboard shows what the issue asks: members, VIP transitions, units, probes, refused documents, gossip drops.
dashboard_covers() {
  local name missing=0
  for name in hcagent_gossip_members_alive hcagent_vrrp_transitions_total hcagent_units hcagent_probe_health \
    hcagent_desired_refused_total hcagent_gossip_packets_dropped_total; do
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
check "the dashboard shows members, VIP transitions, units, probes, refused documents, gossip drops" dashboard_covers
# The name check itself: it must refuse a name the agent does not export.
printf 'expr: rate(hcagent_no_such_metric_total[5m])\n' >"$work/bogus.yml"
check "the name check refuses an unknown name (hcagent_no_such_metric_total)" bash -c "$(declare -f unknown_names); work=$work; ! unknown_names $work/bogus.yml"
finish
