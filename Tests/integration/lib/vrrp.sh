# vrrp.sh: what the VRRP tests ask of a board: its state as hcctl reports it, and whether it holds the VIP.
# Set bin, work and vip, source lab.sh, then this; the functions are exported for `bash -c` checks.
state_of() { "$bin/hcctl" --socket "$work/n$1/hc.sock" vip --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])'; }
is_state() { test "$(state_of "$1")" = "$2"; }
holds() { output_has "inet $vip/" lab_exec "$1" ip -4 addr show dev eth0; }
# The boards 1-3 that have the VIP on their eth0, e.g. "n1 n2".
holders() { local i out=""; for i in 1 2 3; do holds $i && out+="n$i "; done; echo "${out% }"; }
only_holder() { local now; now=$(holders); echo "holders: $now"; test "$now" = "$1"; }
export bin work vip LAB_NAME
export -f state_of is_state holds holders only_holder lab_exec lab_ns
