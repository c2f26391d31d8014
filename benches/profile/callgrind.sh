#!/usr/bin/env bash
# Instruction profiles of pybase-server per operation of the NocoDB workload
# (GET one record, create, PATCH of 3 fields, the unindexed filtered and
# sorted page, bulk of 100), on SQLite, over HTTP, with callgrind. Counts
# are repeatable on a busy machine, unlike times.
#
# Usage: benches/profile/callgrind.sh [out dir] [requests per op] [drive.py options]
# (PYBASE_SERVER_BIN picks another server binary, e.g. an older build.)
# Needs a release build (`cargo build --release -p pybase-server`; the
# release profile keeps line tables for symbols) and valgrind. Writes
# callgrind.out.* and, per operation, <op>.txt (instructions per request
# and the top inclusive and exclusive functions).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out="${1:-$root/target/pybase-profile}"
n="${2:-200}"
bin="${PYBASE_SERVER_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/pybase-server}"
shift $(( $# < 2 ? $# : 2 ))
port=18770
rm -rf "$out"
mkdir -p "$out/data"
DATABASE_URL="sqlite://$out/data/pybase.db" PYBASE_DATA_DIR="$out/data" PORT=$port HOST=127.0.0.1 \
    SECRET_KEY="benchmark-secret-key-0123456789abcdef" RUST_LOG=warn \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out.%p" \
    "$bin" serve >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then break; fi
    sleep 0.2
done
python3 "$root/benches/profile/drive.py" --base-url "http://127.0.0.1:$port" --pid "$pid" --n "$n" "$@"
kill "$pid"
wait "$pid" 2>/dev/null || true
for f in "$out"/callgrind.out.*.*; do
    op=$(grep -m1 '^desc: Trigger: dump ' "$f" | sed 's/.*Trigger: dump //')
    [ -n "$op" ] || continue
    total=$(grep -m1 '^summary:' "$f" | awk '{print $2}')
    case "$op" in
        list) reqs=$(( n / 20 < 3 ? 3 : n / 20 )) ;;
        bulk) reqs=$(( n / 40 < 3 ? 3 : n / 40 )) ;;
        *) reqs=$n ;;
    esac
    {
        echo "$op: $reqs requests, $total instructions, $(( total / reqs )) per request"
        echo
        echo "## inclusive"
        callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null | sed -n '1,80p'
        echo
        echo "## exclusive"
        callgrind_annotate --threshold=100 "$f" 2>/dev/null | sed -n '1,60p'
    } >"$out/$op.txt"
    head -1 "$out/$op.txt"
done
