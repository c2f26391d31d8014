#!/usr/bin/env python3
"""Sums a callgrind profile's exclusive instruction counts by crate (or C
library) from `callgrind_annotate` output: where an operation's own
instructions go. Usage: by_crate.py <callgrind.out file> <requests>"""
import re
import subprocess
import sys
from collections import Counter

path, reqs = sys.argv[1], int(sys.argv[2])
out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", path],
                     capture_output=True, text=True, check=True).stdout
total, groups = 0, Counter()
for line in out.splitlines():
    m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S.*)$", line)
    if not m:
        continue
    n, where = int(m.group(1).replace(",", "")), m.group(2)
    if "PROGRAM TOTALS" in where:
        total = n
        continue
    f = where.split(":", 1)[0]
    if m2 := re.search(r"index\.crates\.io-[0-9a-f]+/([A-Za-z0-9_\-]+?)-\d[\w.\-]*/", f):
        g = m2.group(1)
    elif m2 := re.search(r"/work/[^/]+/([a-z\-]+)/", f):
        g = m2.group(1)
    elif "/rustc/" in f:
        g = "std (alloc, fmt, str, collections)"
    elif "malloc" in f or "alloc/unix" in f:
        g = "malloc/free"
    elif f.startswith("./") or "libc" in where:
        g = "libc (memcpy, locks, ...)"
    else:
        g = "other (" + f[:40] + ")"
    groups[g] += n
print(f"total {total:,} instructions, {total // reqs:,} per request")
for g, n in groups.most_common(14):
    print(f"{n / total * 100:5.1f}%  {n // reqs:>9,}  {g}")
