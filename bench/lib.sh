# lib.sh: what the benchmark scripts share. Source it after setting $root.

# summary N...: "min / median / max ms" of the numbers given, or "fail (...)" when a run failed.
summary() {
  python3 - "$@" <<'PY'
import sys
values = sys.argv[1:]
if not values or any(v == "fail" for v in values): print("fail (" + " ".join(values) + ")"); sys.exit()
v = sorted(int(x) for x in values)
print(f"{v[0]} / {v[len(v) // 2]} / {v[-1]} ms")
PY
}
