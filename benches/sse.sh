#!/usr/bin/env bash
# The change stream at scale (issue 14): starts a release pybase-server on
# SQLite (and on PostgreSQL when PYBASE_TEST_POSTGRES_URL is set), runs
# pybase-sse against it (1,000 SSE subscribers: idle memory per connection
# and commit-to-receipt latency) and stops it. Markdown to stdout.
#
# Usage: benches/sse.sh [--subscribers N] [--events N] (passed to pybase-sse)
# Port: PYBASE_BENCH_PORT (default 18765). PostgreSQL: a database
# pybase_bench_sse (or PYBASE_SSE_DATABASE) is created and dropped there.
# Builds to compare ("before" and "after" in one run), each a pybase-server
# binary, run one after the other on each backend:
# PYBASE_SSE_SERVERS="before=/path/a after=/path/b" (default: the release
# build of this tree, named "this").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin="${CARGO_TARGET_DIR:-$root/target}/release"
if [ -n "${PYBASE_SSE_SERVERS:-}" ]; then
    cargo build --release -p pybase-benches --bin pybase-sse
    servers="$PYBASE_SSE_SERVERS"
else
    cargo build --release -p pybase-server -p pybase-benches --bin pybase-server --bin pybase-sse
    servers="this=$bin/pybase-server"
fi
port="${PYBASE_BENCH_PORT:-18765}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# 1,000 connections need as many descriptors on both sides.
ulimit -n 20000 2>/dev/null || ulimit -n 4096

run() { # backend database_url name server_binary [pybase-sse flags]
    local backend=$1 url=$2 name=$3 server=$4 data="$out/data-$1-$3"
    mkdir -p "$data"
    DATABASE_URL="$url" PYBASE_DATA_DIR="$data" PORT=$port HOST=127.0.0.1 \
        SECRET_KEY="benchmark-secret-key-0123456789abcdef" RUST_LOG=warn \
        "$server" serve >"$out/server-$backend.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    echo "### $backend, $name"
    echo
    "$bin/pybase-sse" --url "127.0.0.1:$port" --pid "$pid" "${@:5}" || {
        echo "pybase-sse failed; the server's log ends with:" >&2
        tail -20 "$out/server-$backend.log" >&2
    }
    echo
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for entry in $servers; do
    name=${entry%%=*}
    run sqlite "sqlite://$out/data-sqlite-$name/pybase.db" "$name" "${entry#*=}" "$@"
done
if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
    admin="$PYBASE_TEST_POSTGRES_URL"
    db="${PYBASE_SSE_DATABASE:-pybase_bench_sse}"
    for entry in $servers; do
        name=${entry%%=*}
        psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -qc "CREATE DATABASE $db" >/dev/null
        run postgres "${admin%/*}/$db" "$name" "${entry#*=}" "$@"
        psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
    done
fi
