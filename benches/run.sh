#!/usr/bin/env bash
# Runs PyBase's benchmarks and writes benches/RESULTS.md:
#
#   1. the criterion bench `backends`: every storage workload through the
#      PyBase facade and through the raw driver, on SQLite and (when a
#      PostgreSQL server is reachable) on PostgreSQL;
#   2. an HTTP load run against a release build of pybase-server on the
#      SQLite default (and on PostgreSQL when reachable), with the raw
#      axum + driver ceiling (pybase-ceiling) measured in the same run;
#   3. pybase-report, which puts every figure beside its raw ceiling.
#
# Usage: benches/run.sh [--quick] [--no-http | --http-only]
#   --quick      smaller tables (10k bulk, 50k big, 10k walk; 3 s HTTP runs);
#                writes target/pybase-bench/RESULTS-quick.md instead
#   --no-http    skip the HTTP load run
#   --http-only  only the HTTP load run (with its ceiling); writes
#                target/pybase-bench/RESULTS-http.md instead
#
# Ports: PYBASE_BENCH_PORT (default 18765) for pybase-server, the next one
# for the ceiling.
# PostgreSQL: PYBASE_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/test when that port answers). The bench
# creates and drops its own databases (pybase_bench, pybase_bench_http) there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=0
http=1
storage=1
for arg in "$@"; do
    case "$arg" in
        --quick) quick=1 ;;
        --no-http) http=0 ;;
        --http-only) storage=0 ;;
        *) echo "unknown argument: $arg (expected --quick, --no-http or --http-only)" >&2; exit 2 ;;
    esac
done

out="${PYBASE_BENCH_OUT:-$root/target/pybase-bench}"
mkdir -p "$out"
rm -rf "$out/criterion" "$out"/notes-*.md "$out"/http*.json
export PYBASE_BENCH_OUT="$out"
export PYBASE_BENCH_QUICK="$quick"

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

if [ -z "${PYBASE_TEST_POSTGRES_URL:-}" ] && port_open 127.0.0.1 5432; then
    export PYBASE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
    echo "PostgreSQL: $PYBASE_TEST_POSTGRES_URL"
else
    echo "PostgreSQL: not reachable, its benches are skipped (set PYBASE_TEST_POSTGRES_URL)"
fi

# ---- 1. storage benches ----
if [ "$storage" = 1 ]; then
    cargo bench -p pybase-benches --bench backends
fi

# ---- 2. HTTP load ----
cargo build --release -p pybase-server -p pybase-benches --bins
bin="${CARGO_TARGET_DIR:-$root/target}/release"
# pybase-server on this port, the ceiling on the next; both must be free
# (another engineer's server there would be measured instead).
http_port="${PYBASE_BENCH_PORT:-18765}"
run_http() { # backend database_url ceiling_database_url
    local backend=$1 url=$2 port=$http_port data="$out/http-data-$1"
    rm -rf "$data"
    mkdir -p "$data"
    DATABASE_URL="$url" PYBASE_DATA_DIR="$data" PORT=$port HOST=127.0.0.1 \
        SECRET_KEY="benchmark-secret-key-0123456789abcdef" RUST_LOG=warn AIRTABLE_RATE_LIMIT_PER_BASE=0 \
        "$bin/pybase-server" serve >"$out/server-$backend.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    # The ceiling: raw axum + driver answering the same GET from the same rows.
    local ceiling_url=$3 ceiling_port=$((http_port + 1))
    "$bin/pybase-ceiling" --database-url "$ceiling_url" --port "$ceiling_port" \
        >"$out/ceiling-$backend.log" 2>&1 &
    local ceiling=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$ceiling_port/health" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    local seconds=10 records=10000
    if [ "$quick" = 1 ]; then seconds=3; records=2000; fi
    "$bin/pybase-load" --url "http://127.0.0.1:$port" --pid "$pid" \
        --connections 32 --seconds "$seconds" --records "$records" --backend "$backend" \
        --ceiling-url "http://127.0.0.1:$ceiling_port" --ceiling-pid "$ceiling" \
        --out "$out/http-$backend.json" || echo "HTTP load on $backend failed; see $out/server-$backend.log" >&2
    kill "$pid" "$ceiling" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    wait "$ceiling" 2>/dev/null || true
}
if [ "$http" = 1 ]; then
    for p in "$http_port" "$((http_port + 1))"; do
        if port_open 127.0.0.1 "$p"; then
            echo "port $p is in use: set PYBASE_BENCH_PORT to a free pair of ports" >&2
            exit 1
        fi
    done
    run_http sqlite "sqlite://$out/http-data-sqlite/pybase.db" "sqlite://$out/http-data-sqlite/ceiling.db"
    if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ] && ! command -v psql >/dev/null; then
        echo "psql not found: the HTTP run on PostgreSQL is skipped" >&2
    elif [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
        admin="$PYBASE_TEST_POSTGRES_URL"
        pg_http="${admin%/*}/pybase_bench_http"
        psql "$admin" -qc "DROP DATABASE IF EXISTS pybase_bench_http WITH (FORCE)" \
            -c "CREATE DATABASE pybase_bench_http" >/dev/null
        run_http postgres "$pg_http" "$pg_http"
    fi
fi

# ---- 3. the table ----
machine="$out/machine.md"
{
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
    echo "- toolchain: $(rustc --version)"
    sqlite_h=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*libsqlite3-sys-0.37*/sqlite3/sqlite3.h' 2>/dev/null | head -1)
    sqlite_version=$(grep -m1 -o 'SQLITE_VERSION  *"[0-9.]*"' "$sqlite_h" 2>/dev/null | grep -o '[0-9][0-9.]*' || true)
    echo "- SQLite: ${sqlite_version:-bundled} (bundled by rusqlite 0.39)"
    if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
        echo "- PostgreSQL: $(psql "$PYBASE_TEST_POSTGRES_URL" -tAc 'SHOW server_version' 2>/dev/null || echo unknown)"
    fi
    if [ "$quick" = 1 ]; then
        echo "- sizes: quick (10,000 bulk, 50,000-record big table, 10,000 walked)"
    else
        echo "- sizes: full (100,000 bulk, 1,000,000-record big table, 100,000 walked)"
    fi
} >"$machine"
# A smoke run must not replace the committed results of a full run.
results=benches/RESULTS.md
if [ "$quick" = 1 ]; then results="$out/RESULTS-quick.md"; fi
if [ "$storage" = 0 ]; then results="$out/RESULTS-http.md"; fi
# The binary built above (a `cargo run -p pybase-benches` alone would
# resolve features differently and rebuild the dependencies).
"$bin/pybase-report" "$out" "$results" "$machine"
