#!/usr/bin/env python3
# What a running agent keeps resident: RSS per mapped file (smaps), then per ELF section of its own binary (pagemap).
# Usage (root, for pagemap): bench/resident.py PID. How the figures in docs/benchmarks.md were found.
import collections
import re
import struct
import subprocess
import sys

pid = sys.argv[1]
binary = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
binary = subprocess.run(["readlink", "-f", f"/proc/{pid}/exe"], capture_output=True, text=True).stdout.strip() or binary

# smaps: resident and anonymous KiB per file (anonymous mappings together).
per_file = collections.OrderedDict()
current = None
for line in open(f"/proc/{pid}/smaps"):
    fields = line.split()
    if re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):
        current = fields[5] if len(fields) > 5 else "[anonymous]"
        per_file.setdefault(current, [0, 0])
    elif fields[0] == "Rss:":
        per_file[current][0] += int(fields[1])
    elif fields[0] == "Anonymous:":
        per_file[current][1] += int(fields[1])
print(f"{'RSS KiB':>8} {'anon':>6}  mapping")
for name, (rss, anon) in sorted(per_file.items(), key=lambda item: -item[1][0]):
    if rss:
        print(f"{rss:8d} {anon:6d}  {name}")
print(f"{sum(rss for rss, _ in per_file.values()):8d}         total")

# pagemap: which pages of each section of the binary are present (bit 63 of each 8-byte entry).
mappings = []
for line in open(f"/proc/{pid}/maps"):
    fields = line.split()
    if len(fields) > 5 and fields[5] == binary:
        start, end = (int(x, 16) for x in fields[0].split("-"))
        mappings.append((start, end, int(fields[2], 16)))
base = mappings[0][0] - mappings[0][2]
pagemap = open(f"/proc/{pid}/pagemap", "rb")


def present(address):
    pagemap.seek(address // 4096 * 8)
    return struct.unpack("<Q", pagemap.read(8))[0] >> 63


print(f"\n{'size KiB':>9} {'resident':>9}  section of {binary}")
headers = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout
for line in headers.splitlines():
    match = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if not match:
        continue
    name, address, size = match.group(1), int(match.group(2), 16), int(match.group(3), 16)
    if address == 0 or size < 16384:
        continue
    pages = range((base + address) // 4096, (base + address + size - 1) // 4096 + 1)
    resident = sum(present(page * 4096) for page in pages) * 4
    print(f"{size // 1024:9d} {resident:9d}  {name}")
