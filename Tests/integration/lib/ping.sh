# ping.sh: a client on lab board 4 pings the VIP every 10 ms while something happens; ping_stop says what it saw.
# Set work and vip, source lab.sh, then this. ping_stop prints "GAP LOST SENT": the longest gap between replies
# in ms, how many pings went unanswered, how many were answered. The lab's timers space pings 16-28 ms apart with
# nothing happening, so checks count lost pings rather than time a gap.
# (ip netns exec directly, not lab_exec: $! is then ping itself, and kill stops it.)
ping_start() { ip netns exec "$(lab_ns 4)" ping -D -n -i 0.01 "$vip" >"$work/ping" 2>&1 & echo $! >"$work/ping.pid"; sleep 0.5; }
ping_stop() {
  kill "$(cat "$work/ping.pid")" 2>/dev/null; wait "$(cat "$work/ping.pid")" 2>/dev/null
  python3 - "$work/ping" <<'PY'
import re, sys
replies = [(float(t), int(q)) for t, q in re.findall(r'^\[(\d+\.\d+)\].*icmp_seq=(\d+)', open(sys.argv[1]).read(), re.M)]
gaps = [b[0] - a[0] for a, b in zip(replies, replies[1:])]
seqs = sorted(set(q for _, q in replies))
lost = (seqs[-1] - seqs[0] + 1 - len(seqs)) if seqs else 999999
print(int(max(gaps) * 1000) if gaps else 999999, lost, len(seqs))
PY
}
