#!/usr/bin/env python3
"""Reads a seeder dump (dnsseed.dump) the way Bitcoin's contrib/seeds/makeseeds.py
does: each line split on blanks, every field taken by its position, never by a
name. Prints one tab-separated line per node it keeps:
host port good last_success uptime_30d blocks services version agent
and exits 1 on a line that does not read (makeseeds would crash on it)."""
import re
import sys

V4 = re.compile(r"^([0-9]{1,3}(?:\.[0-9]{1,3}){3}):([0-9]+)$")
V6 = re.compile(r"^\[([0-9a-fA-F:.]+)\]:([0-9]+)$")

for line in sys.stdin:
    if line.startswith("#"):
        continue
    f = line.split()
    if len(f) < 11:
        continue
    m = V4.match(f[0]) or V6.match(f[0])
    if not m:
        sys.exit(f"not an address: {f[0]!r}")
    if not all(p.endswith("%") for p in f[3:8]):
        sys.exit(f"the uptimes are not in fields 4..8: {line.rstrip()!r}")
    try:
        good = int(f[1])
        last = int(f[2])
        up30 = float(f[7][:-1])
        blocks = int(f[8])
        services = int(f[9], 16)
        version = int(f[10])
    except ValueError as e:
        sys.exit(f"does not read by position: {line.rstrip()!r}: {e}")
    agent = f[11][1:-1] if len(f) > 11 else ""
    print("\t".join(map(str, (m.group(1), m.group(2), good, last, f"{up30:.2f}", blocks,
                              services, version, agent))))
