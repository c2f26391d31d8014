#!/usr/bin/env python3
"""Drives a pybase-server running under `valgrind --tool=callgrind
--instr-atstart=no` through the NocoDB comparison's workload and dumps one
callgrind profile per operation (instruction counts: repeatable on a busy
machine).

Setup (not instrumented): register, an API key (the peer client's default
credential), a workspace, a base, the workload's table of 6 fields, 10,000
records in batches of 100. Then, instrumented, for each operation: a few
warm-up requests, `callgrind_control --zero`, N sequential requests,
`callgrind_control --dump=<op>`. Prints instructions per request from each
dump's totals.

Standard library only. The records come from the peer client's
`workload.py` (same generator and seed), found with --peer-bench.

Requests carry `Accept-Encoding: gzip, deflate` as the peer client's
aiohttp does (--accept-encoding "" for none).

Usage: drive.py --base-url http://127.0.0.1:18770 --pid <valgrind pid>
       [--peer-bench ../shared/peer-bench] [--records 10000] [--n 200]
       [--ops get,create,patch,list,bulk] [--accept-encoding "gzip, deflate"]
       [--warmup 3] [--settle 0]
"""
from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
import zlib


class Client:
    def __init__(self, base_url: str, accept_encoding: str):
        u = urllib.parse.urlparse(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.headers: dict[str, str] = {}
        self.accept_encoding = accept_encoding

    def call(self, method: str, path: str, body=None, want: int = 200):
        headers = dict(self.headers)
        if self.accept_encoding:
            headers["Accept-Encoding"] = self.accept_encoding
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = resp.read()
        if resp.status != want:
            sys.exit(f"{method} {path}: expected {want}, got {resp.status}: {payload[:300]!r}")
        if resp.getheader("Content-Encoding") == "gzip":
            payload = gzip.decompress(payload)
        elif resp.getheader("Content-Encoding") == "deflate":
            payload = zlib.decompress(payload)
        return json.loads(payload) if payload else None


def field_defs(schema):
    out = []
    for f in schema.fields:
        d = {"name": f.name, "type": "number" if f.type == "decimal" else f.type}
        if f.type in ("number", "decimal"):
            d["options"] = {"precision": f.precision}
        if f.type == "single_select":
            d["options"] = {"choices": [{"name": c} for c in f.choices]}
        out.append(d)
    return out


def control(pid: int, *args: str) -> None:
    # vgdb names its pipes after $USER and $HOST; the server was started
    # with HOST=127.0.0.1 (its listen address), so look for that name.
    env = dict(os.environ, HOST="127.0.0.1")
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--peer-bench", default=os.path.join(os.path.dirname(__file__),
                                                         "../../../shared/peer-bench"))
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--ops", default="get,create,patch,list,bulk")
    # What the peer client (aiohttp) sends by default; "" to send none.
    ap.add_argument("--accept-encoding", default="gzip, deflate")
    # Warm-up requests per operation, and seconds to wait after them (e.g.
    # for automatic indexes, with the server's AUTO_INDEX_AFTER set low).
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--settle", type=float, default=0.0)
    args = ap.parse_args()
    sys.path.insert(0, os.path.abspath(args.peer_bench))
    import workload  # noqa: E402  (the peer client's generator)

    c = Client(args.base_url, args.accept_encoding)
    s = c.call("POST", "/api/v1/auth/register", {"email": "prof@example.com",
               "password": "Prof-Passw0rd!", "name": "Prof"}, 201)
    c.headers = {"Authorization": f"Bearer {s['access_token']}"}
    key = c.call("POST", "/api/v1/api-keys", {"name": "prof",
                 "scopes": ["read", "write", "schema", "admin"]}, 201)
    c.headers = {"Authorization": f"Bearer {key['key']}"}
    ws = c.call("POST", "/api/v1/workspaces", {"name": "prof"}, 201)["id"]
    base = c.call("POST", f"/api/v1/workspaces/{ws}/bases", {"name": "prof"}, 201)["id"]
    table = c.call("POST", f"/api/v1/bases/{base}/tables",
                   {"name": workload.SCHEMA.name, "fields": field_defs(workload.SCHEMA)}, 201)["id"]
    rec = f"/api/v1/tables/{table}/records"
    records = workload.make_records(args.records, 42)
    ids = []
    for i in range(0, len(records), 100):
        made = c.call("POST", rec, {"records": [{"fields": r} for r in records[i:i + 100]]}, 201)
        ids += [r["id"] for r in made["records"]]
    print(f"seeded {len(ids)} records", flush=True)

    rng = random.Random(7)
    q = urllib.parse.urlencode({
        "filter": json.dumps({"field": "Qty", "op": "gt", "value": 500}, separators=(",", ":")),
        "sort": "-Price", "page_size": "100"})
    extra = workload.make_records(args.n * 100 + 100, 43)
    ops = {
        "get": (args.n, lambda i: c.call("GET", f"{rec}/{ids[rng.randrange(len(ids))]}")),
        "create": (args.n, lambda i: c.call("POST", rec, {"fields": extra[i]}, 201)),
        "patch": (args.n, lambda i: c.call("PATCH", f"{rec}/{ids[rng.randrange(len(ids))]}",
                                           {"fields": workload.make_patch(rng)})),
        "list": (max(args.n // 20, 3), lambda i: c.call("GET", f"{rec}?{q}")),
        "bulk": (max(args.n // 40, 3), lambda i: c.call("POST", rec, {"records": [
            {"fields": r} for r in extra[i * 100:(i + 1) * 100]]}, 201)),
    }
    control(args.pid, "--instr=on")
    for op in args.ops.split(","):
        n, fn = ops[op]
        for i in range(args.warmup):  # warm caches (fields, statements) outside the count
            fn(i)
        time.sleep(args.settle)
        control(args.pid, "--zero")
        for i in range(args.warmup, args.warmup + n):
            fn(i)
        control(args.pid, f"--dump={op}")
        print(f"{op}: {n} requests dumped", flush=True)
    control(args.pid, "--instr=off")


if __name__ == "__main__":
    main()
