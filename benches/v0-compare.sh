#!/usr/bin/env bash
# Issue 13's speed targets, side by side in one run over HTTP against a
# release pybase-server: a /v0 page of 100 records against the same page
# through /api/v1, and filterByFormula against the native filter
# (`pybase-load --compare`, see bin/load.rs).
#
# Usage: benches/v0-compare.sh [sqlite|postgres] [rounds] [seconds]
#   postgres needs PYBASE_TEST_POSTGRES_URL (a server URL; the script makes
#   its own database pybase_v0_compare there and drops it afterwards).
# Port: PYBASE_BENCH_PORT (default 18791). Output: target/pybase-bench/
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
backend=${1:-sqlite}
rounds=${2:-5}
seconds=${3:-3}
port=${PYBASE_BENCH_PORT:-18791}
out="${PYBASE_BENCH_OUT:-$root/target/pybase-bench}"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
mkdir -p "$out"
cargo build --release -p pybase-server -p pybase-benches --bin pybase-server --bin pybase-load

data="$out/v0-compare-data-$backend"
rm -rf "$data"
mkdir -p "$data"
case "$backend" in
    sqlite) url="sqlite://$data/pybase.db" ;;
    postgres)
        admin=${PYBASE_TEST_POSTGRES_URL:?set PYBASE_TEST_POSTGRES_URL}
        psql "$admin" -qc 'DROP DATABASE IF EXISTS pybase_v0_compare' >/dev/null
        psql "$admin" -qc 'CREATE DATABASE pybase_v0_compare' >/dev/null
        url="${admin%/*}/pybase_v0_compare"
        ;;
    *) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac
DATABASE_URL="$url" PYBASE_DATA_DIR="$data" PORT=$port HOST=127.0.0.1 \
    SECRET_KEY="benchmark-secret-key-0123456789abcdef" RUST_LOG=warn AIRTABLE_RATE_LIMIT_PER_BASE=0 \
    "$bin/pybase-server" serve >"$out/v0-compare-server-$backend.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ "$backend" = postgres ]; then
        psql "$admin" -qc 'DROP DATABASE IF EXISTS pybase_v0_compare' >/dev/null || true
    fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
# `--only none`: no long runs, only the side-by-side comparisons.
"$bin/pybase-load" --url "http://127.0.0.1:$port" --pid "$pid" \
    --connections "${PYBASE_BENCH_CONNECTIONS:-8}" --seconds "$seconds" --records 5000 \
    --backend "$backend" --only none --compare "$rounds" \
    --out "$out/v0-compare-$backend.json"
