# moves.sh: counts the VIP's moves while something happens, as the boards and as the client (lab board 4) see it.
# Set work and vip, source lab.sh and vrrp.sh, then this. moves_start follows, with `ip monitor` (one process
# each, timestamped, nothing missed between samples), the VIP's address on boards 1-3 and the client's ARP entry
# for it; moves_stop ends them (the script's cleanup should call it too). A move is a change of the one board
# that holds the VIP ("n1 n2", an overlap, is no hand), or of the MAC the client's ARP entry has for it.
moves_start() {
  local i
  : >"$work/moves.pids"
  for i in 1 2 3; do
    ip -n "$(lab_ns $i)" -ts monitor address >"$work/moves.n$i" 2>/dev/null &
    echo $! >>"$work/moves.pids"
  done
  ip -n "$(lab_ns 4)" -ts monitor neigh >"$work/moves.client" 2>/dev/null &
  echo $! >>"$work/moves.pids"
  sleep 0.2
  echo "$(date +%s%N) $(holders)" >"$work/moves.initial"
  echo "$(date +%s%N) $(ip -n "$(lab_ns 4)" neigh show "$vip" dev eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')" >"$work/moves.client-initial"
}
moves_stop() {
  [ -f "$work/moves.pids" ] || return 0
  local pid
  for pid in $(cat "$work/moves.pids"); do kill "$pid" 2>/dev/null; done
  rm -f "$work/moves.pids"
}
# vip_moves FROM_NS: prints "HOLDER_MOVES CLIENT_MOVES UNHELD_MS" since that instant (counted from the state just
# before it): the moves, and the longest time no board held the VIP (0 when each move was make before break).
vip_moves() {
  python3 - "$1" "$work" "$vip" <<'PY'
import datetime, re, sys
since, work, vip = int(sys.argv[1]) / 1e9, sys.argv[2], sys.argv[3]
def stamp(line):
    m = re.match(r'\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\]', line)
    return datetime.datetime.fromisoformat(m.group(1)).timestamp() if m else None
def count(sequence):
    last, n = None, 0
    for t, value in sequence:
        if value is None: continue
        if t >= since and last is not None and value != last: n += 1
        last = value
    return n
# The holders: the initial sample, then each board's address events for the VIP, merged in time.
t0, *held = open(f"{work}/moves.initial").read().split()
held, events = set(held), []
for i in (1, 2, 3):
    for line in open(f"{work}/moves.n{i}"):
        if f" {vip}/" not in line or stamp(line) is None: continue
        events.append((stamp(line), f"n{i}", "Deleted" not in line))
sole = [(int(t0) / 1e9, next(iter(held)) if len(held) == 1 else None)]
unheld_since, unheld = (since if not held else None), 0.0
for t, board, added in sorted(events):
    (held.add if added else held.discard)(board)
    sole.append((t, next(iter(held)) if len(held) == 1 else None))
    if not held and unheld_since is None: unheld_since = max(t, since)
    if held and unheld_since is not None:
        if t >= since: unheld = max(unheld, t - unheld_since)
        unheld_since = None
# The client: its ARP entry's MAC, from the initial sample and each neighbour event for the VIP.
t1, *mac = open(f"{work}/moves.client-initial").read().split()
macs = [(int(t1) / 1e9, mac[0] if mac else None)]
for line in open(f"{work}/moves.client"):
    m = re.search(rf" {re.escape(vip)} dev \S+ lladdr (\S+)", line)
    if m and stamp(line) is not None and not re.search(r"\] Deleted ", line): macs.append((stamp(line), m.group(1)))
print(count(sole), count(macs), round(unheld * 1000))
PY
}
