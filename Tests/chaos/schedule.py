#!/usr/bin/env python3
"""schedule.py: the chaos suite's fault schedule for one seed, the same on every run of that seed.

Usage: schedule.py SEED DURATION_S BOARDS
Prints one event a line, sorted by time: `T_MS ACTION FAULT_ID KIND ARGS...`, where ACTION is `start` or
`end` (an instant fault, such as a VIP deleted or a document applied, has only a start). Every fault ends by
DURATION_S, so after the last line the lab is whole again and the suite waits for it to heal.

A board carries at most one board fault at a time (kill, stop, loss, flap, fill), and at most one partition
runs at a time: two overlapping faults on one board would make the timeline hard to read, not harder to
survive, since partitions, applies and VIP deletions still overlap any board fault.
"""
import random
import sys

KINDS = ["kill", "stop", "partition", "loss", "flap", "vipdel", "fill", "apply"]
# How often each kind is drawn: the board faults and partitions are what the agents must survive.
WEIGHTS = {"kill": 3, "stop": 2, "partition": 3, "loss": 2, "flap": 2, "vipdel": 2, "fill": 2, "apply": 2}
INSTANT = {"vipdel", "apply"}


def generate(seed, duration_s, boards):
    rng = random.Random(seed)
    duration_ms = duration_s * 1000
    board_busy = {b: [] for b in range(1, boards + 1)}  # board -> [(start, end)]
    partitions = []
    events = []
    fault_id = 0
    faults = rng.randint(duration_s // 8 + 2, duration_s // 5 + 3)
    applies = 0
    vipdels = 0
    tries = 0
    while fault_id < faults and tries < 500:
        tries += 1
        kind = rng.choices(KINDS, weights=[WEIGHTS[k] for k in KINDS])[0]
        start = rng.randint(2000, duration_ms - 6000)
        length = rng.randint(2000, 12000)
        end = min(start + length, duration_ms - 1000)
        overlaps = lambda spans: any(s < end + 500 and start < e + 500 for s, e in spans)
        if kind == "apply":
            if applies >= 3:
                continue
            applies += 1
            fault_id += 1
            # The board to apply on; the suite takes the next live one if this one is down or stopped.
            events.append((start, "start", fault_id, kind, [str(rng.randint(1, boards))]))
            continue
        if kind == "vipdel":
            if vipdels >= 2:
                continue
            vipdels += 1
            fault_id += 1
            events.append((start, "start", fault_id, kind, [rng.choice(["front", "back"])]))
            continue
        if kind == "partition":
            if overlaps(partitions):
                continue
            members = list(range(1, boards + 1))
            rng.shuffle(members)
            cut = rng.randint(1, boards // 2)  # the smaller side: 1 or 2 of 5
            side = sorted(members[:cut])
            other = sorted(members[cut:])
            partitions.append((start, end))
            args = [",".join(map(str, side)), ",".join(map(str, other))]
        else:
            board = rng.randint(1, boards)
            if overlaps(board_busy[board]):
                continue
            board_busy[board].append((start, end))
            args = [str(board)]
            if kind == "loss":
                args.append(str(rng.randint(20, 50)))
        fault_id += 1
        events.append((start, "start", fault_id, kind, args))
        events.append((end, "end", fault_id, kind, args))
    # An instant fault at the same millisecond as an end goes after it; otherwise by time, then id.
    events.sort(key=lambda e: (e[0], e[1] == "start", e[2]))
    return events


def main():
    seed, duration_s, boards = (int(a) for a in sys.argv[1:4])
    for t, action, fid, kind, args in generate(seed, duration_s, boards):
        print(t, action, fid, kind, *args)


if __name__ == "__main__":
    main()
