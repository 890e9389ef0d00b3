#!/usr/bin/env python3
"""evaluate.py: the chaos suite's judge of one observation of the lab (what chaos.sh's observe wrote).

Usage: evaluate.py MODE DIR BOARDS CONTAINERS "VIP_ADDRESSES" ACTIVE_FAULTS SEED_FAULTS ACCEPTED VIP_DELETED
                   KNOWN STATE_FILE DECOY_INVOCATIONS
MODE sample: what must hold at every moment (a `one` unit on one board at most, no generation going back
within an agent's life, no document nobody applied, the decoys as they were); prints `violation KIND TEXT`
lines, and `change TEXT` lines for what changed since the last sample (kept in STATE_FILE).
MODE healed: what must hold once the faults are over; prints `ok` when all of it holds, else one
`pending KIND TEXT` per broken part, or `skip KIND TEXT` for a part broken in a way KNOWN names.

Violation kinds (all counted unless KNOWN names them): one-agent-down (a `one` unit on two boards, one of which has its agent killed or stopped,
now or, while the lab heals, earlier in the seed), one-partition (the same while a partition, loss or link
cut is on, or earlier), one-twice (the same with no such fault), vip-readd (a VIP deleted by hand and not put back), vip, members,
generation, regressed, units, decoy, crash.
"""
import json
import os
import sys

VIP_NAMES = ["front", "back"]
PARTITION_LIKE = {"partition", "loss", "flap"}
AGENT_DOWN = {"kill", "stop"}


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def units_of(text, names):
    """`systemctl show -p ActiveState,InvocationID U1 U2...` prints one block per unit, in order."""
    blocks = [b for b in text.strip().split("\n\n")] if text.strip() else []
    out = {}
    for name, block in zip(names, blocks):
        out[name] = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    return out


def main():
    (mode, directory, boards, containers, vip_addresses, active_faults, seed_faults, accepted,
     vip_deleted, known, state_file, decoys) = sys.argv[1:13]
    boards, containers = int(boards), int(containers)
    vip_address = dict(zip(VIP_NAMES, vip_addresses.split()))
    active = [f.split() for f in active_faults.split(";") if f.strip()]
    started = [f.split() for f in seed_faults.split(";") if f.strip()]
    # ACCEPTED: the generations hcctl apply answered as accepted, and "?" for an apply that got no answer (the
    # agent may have taken it: then it runs one generation more than it would have).
    unanswered = accepted.split().count("?")
    accepted = [int(g) for g in accepted.split() if g != "?"]
    expected_generation = max(accepted + [1])
    highest_possible = expected_generation + unanswered
    deleted = {tuple(pair.split()) for pair in _pairs(vip_deleted)}
    known = set(known.split())
    decoys = decoys.split()
    unit_names = ["hx-single.service", "hx-web.service", "hx-decoy.service", "hx-idle.service"]

    agents, statuses, holders, units = {}, {}, {}, {}
    for b in range(1, boards + 1):
        state, _, pid = read(f"{directory}/agent-{b}").strip().partition(" ")
        agents[b] = (state, pid)
        try:
            statuses[b] = json.loads(read(f"{directory}/status-{b}")) if state == "up" else None
        except json.JSONDecodeError:
            statuses[b] = None
        addr = read(f"{directory}/addr-{b}")
        for name, address in vip_address.items():
            if f"inet {address}/" in addr:
                holders.setdefault(name, []).append(b)
    for b in range(1, containers + 1):
        units[b] = units_of(read(f"{directory}/units-{b}"), unit_names)

    def active_on(unit):
        return [b for b in units if units[b].get(unit, {}).get("ActiveState") == "active"]

    def masters(name):
        out = []
        for b, s in statuses.items():
            if s and any(v.get("name") == name and v.get("state") == "master" for v in s.get("vips", [])):
                out.append(b)
        return out

    def generation(b):
        s = statuses.get(b)
        return s and (s.get("desired") or {}).get("generation")

    def view(b):
        s = statuses.get(b)
        return {m["name"]: m["state"] for m in (s or {}).get("members", [])}

    single = active_on("hx-single.service")
    lines = []
    if mode == "sample":
        try:
            last = json.loads(read(state_file) or "{}")
        except json.JSONDecodeError:
            last = {}
        if len(single) > 1:
            kind, why = blame(active, single, "during")
            if kind == "one-twice":
                kind, why = blame(started, single, "healing after")
            lines.append(f"violation {kind} hx-single.service (placement: one) active on "
                         + " ".join(f"b{b}" for b in single) + f" at once -- {why}")
        lives = last.get("lives", {})
        for b in statuses:
            g = generation(b)
            state, pid = agents[b]
            if g is None:
                continue
            life = lives.get(str(b))
            if life and life[0] == pid and g < life[1]:
                lines.append(f"violation regressed n{b} went from generation {life[1]} back to {g} (same agent, pid {pid})")
            if g > highest_possible:
                lines.append(f"violation generation n{b} runs generation {g}, but only up to {expected_generation} was accepted"
                             + (f" ({unanswered} more applies got no answer)" if unanswered else ""))
            if not life or life[0] != pid or g > life[1]:
                lives[str(b)] = [pid, g]
        for b, invocation in zip(units, decoys):
            d = units[b].get("hx-decoy.service", {})
            if d and d.get("InvocationID") != invocation:
                lines.append(f"violation decoy b{b}: hx-decoy.service changed: {d}")
            i = units[b].get("hx-idle.service", {})
            if i and i.get("ActiveState") not in ("inactive", None):
                lines.append(f"violation decoy b{b}: hx-idle.service is {i.get('ActiveState')}")
        # What changed since the last look, for the timeline.
        picture = {
            "agents": {str(b): agents[b][0] for b in agents},
            "vip holders": {n: holders.get(n, []) for n in VIP_NAMES},
            "vrrp masters": {n: masters(n) for n in VIP_NAMES},
            "hx-single on": single,
            "generations": {str(b): generation(b) for b in statuses if statuses[b]},
            "views": {str(b): " ".join(f"{n}={st}" for n, st in sorted(view(b).items()) if st != "alive") or "all alive"
                      for b in statuses if statuses[b]},
        }
        before = last.get("picture", {})
        for key, value in picture.items():
            if before.get(key) != value:
                if isinstance(value, dict) and isinstance(before.get(key), dict):
                    diff = {k: v for k, v in value.items() if before[key].get(k) != v}
                    lines.append(f"change {key}: {json.dumps(diff, separators=(',', ':'))}")
                else:
                    lines.append(f"change {key}: {json.dumps(value, separators=(',', ':'))}")
        with open(state_file + ".new", "w") as f:
            json.dump({"lives": lives, "picture": picture}, f)
        os.replace(state_file + ".new", state_file)
        print("\n".join(lines))
        return

    # mode healed
    names = [f"n{b}" for b in range(1, boards + 1)]
    # With unanswered applies, the generation to heal to is the highest any board runs, if within reach.
    if unanswered:
        running = [generation(b) for b in statuses if generation(b) is not None]
        expected_generation = min(max(running + [expected_generation]), highest_possible)
    for b in range(1, boards + 1):
        state, _ = agents[b]
        if state != "up":
            lines.append(f"pending crash n{b}'s agent is {state}")
        elif statuses[b] is None:
            lines.append(f"pending members n{b}'s agent does not answer hcctl status")
        else:
            v = view(b)
            wrong = {n: v.get(n) for n in names if v.get(n) != "alive"}
            if wrong:
                lines.append(f"pending members n{b} sees {json.dumps(wrong, separators=(',', ':'))}, not all five alive")
            if generation(b) != expected_generation:
                lines.append(f"pending generation n{b} runs generation {generation(b)}, the highest accepted is {expected_generation}")
    for name in VIP_NAMES:
        h, m = sorted(holders.get(name, [])), sorted(masters(name))
        if len(h) == 1 and m == h:
            continue
        text = (f"VIP {name}: held (address) by {['n%d' % b for b in h] or 'nobody'}, "
                f"VRRP master on {['n%d' % b for b in m] or 'nobody'}")
        if not h and len(m) == 1 and (name, str(m[0])) in deleted:
            lines.append(("skip" if "vip-readd" in known else "pending")
                         + f" vip-readd {text} (deleted by hand on n{m[0]}, not put back)")
        else:
            lines.append(f"pending vip {text}")
    if len(single) != 1:
        lines.append(f"pending units hx-single.service (placement: one) active on {['b%d' % b for b in single] or 'no board'}")
    web = active_on("hx-web.service")
    if len(web) != containers:
        lines.append(f"pending units hx-web.service active on {['b%d' % b for b in web]} only")
    if not any(line.startswith("pending") for line in lines):
        lines.insert(0, "ok")
    print("\n".join(lines))


def blame(faults, single, when):
    """The kind of a `one` unit seen on two boards: the copies beyond one are on boards whose agent is killed
    or stopped (one-agent-down: their agent cannot stop them), else a partition, loss or link cut anywhere
    (one-partition), else no excuse: two live agents both chose to run it."""
    down = [f for f in faults if f[0] in AGENT_DOWN and len(f) > 1 and int(f[1]) in single]
    live = [b for b in single if b not in {int(f[1]) for f in down}]
    if down and len(live) <= 1:
        return "one-agent-down", f"{when} " + ", ".join(" ".join(f) for f in down)
    cut = [f for f in faults if f[0] in PARTITION_LIKE]
    if cut:
        return "one-partition", f"{when} " + ", ".join(" ".join(f) for f in cut)
    return "one-twice", (f"on {len(live)} boards whose agents run, with no partition" +
                         (f" ({when} " + ", ".join(" ".join(f) for f in faults) + ")" if faults else ""))


def _pairs(text):
    words = text.split()
    return [" ".join(words[i:i + 2]) for i in range(0, len(words) - 1, 2)]


if __name__ == "__main__":
    main()
