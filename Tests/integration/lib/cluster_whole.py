#!/usr/bin/env python3
# cluster_whole.py: waits until a namespace cluster is whole again and prints how long that took.
#
# Whole means: every agent answers on its control socket, sees every node alive (itself included), runs
# GENERATION, and each VIP is held by exactly one board, which every agent names as the holder and which is the
# only VRRP master. Asks the sockets directly (one JSON line each way), so a look at five agents takes a few
# milliseconds and the figure is not hcctl's start-up time.
#
# usage: cluster_whole.py SINCE_NS BOUND_S GENERATION VIP_ADDRESS NODE=SOCKET=NAMESPACE...
# prints "MS" (from SINCE_NS, a CLOCK_REALTIME nanosecond reading, to the first whole look) and exits 0, or
# prints what the last look saw and exits 1 after BOUND_S seconds.
import json
import socket
import subprocess
import sys
import time


def status(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        s.connect(path)
        s.sendall(b'{"v":1,"id":1,"command":"status"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)["status"]


def holders(boards, address):
    """The boards whose eth0 carries the VIP address."""
    out = []
    for node, (_, namespace) in boards.items():
        text = subprocess.run(["ip", "-n", namespace, "-4", "addr", "show", "dev", "eth0"],
                              capture_output=True, text=True).stdout
        if f"inet {address}/" in text:
            out.append(node)
    return out


def look(boards, generation, address):
    """None when whole, else what is missing."""
    nodes = set(boards)
    masters, named, addresses = [], set(), {}
    for node, (path, _) in boards.items():
        try:
            s = status(path)
        except (OSError, ValueError, KeyError) as error:
            return f"{node}: no status ({error})"
        alive = {m["name"] for m in s["members"] if m["state"] == "alive"} | {node}
        addresses.update({m["name"]: m["address"].rsplit(":", 1)[0] for m in s["members"]})
        if alive != nodes:
            return f"{node} sees alive {sorted(alive)}"
        if s["desired"].get("generation") != generation:
            return f"{node} runs generation {s['desired'].get('generation')}"
        for vip in s["vips"]:
            if vip["state"] == "master":
                masters.append(node)
            named.add(vip.get("holder"))
    if len(masters) != 1:
        return f"masters: {masters}"
    held = holders(boards, address)
    if held != masters:
        return f"VIP address on {held}, master {masters}"
    # The master names itself; the backups name it by the address its advertisements come from.
    if not named <= {masters[0], addresses.get(masters[0])}:
        return f"holders named: {sorted(map(str, named))}, master {masters[0]}"
    return None


def main():
    since_ns, bound, generation, address = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    boards = {}
    for spec in sys.argv[5:]:
        node, path, namespace = spec.split("=")
        boards[node] = (path, namespace)
    deadline = time.time() + bound
    while True:
        missing = look(boards, generation, address)
        if missing is None:
            print((time.time_ns() - since_ns) // 1_000_000)
            return 0
        if time.time() > deadline:
            print(f"not whole after {bound} s: {missing}")
            return 1
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
