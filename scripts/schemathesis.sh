#!/usr/bin/env bash
# Runs schemathesis (from PyPI, 4.x) against a freshly built and started
# PyBase server: every check and every phase (examples, coverage, fuzzing,
# stateful), authenticated with an API key, with a fixed seed. Any failure
# (a 5xx, an answer that breaks the document, a schema-valid request
# refused, a schema-violating request accepted, ...) makes it exit non-zero.
#
# SQLite by default; PostgreSQL when PYBASE_TEST_POSTGRES_URL is set (a
# fresh database is created next to the one it names, and dropped after).
#
# Tunables: SCHEMATHESIS_MAX_EXAMPLES (default 25 per operation),
# SCHEMATHESIS_SEED (default 20261128), SCHEMATHESIS_VERSION (a pip
# requirement, default "schemathesis>=4,<5"). schemathesis is installed
# into the tools venv ($PYBASE_TOOLS_DIR/venv, default
# ~/.cache/pybase-tools/venv); if it cannot be, the run is skipped loudly,
# or fails under PYBASE_REQUIRE_SERVICES=1 (as CI sets).
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
seed="${SCHEMATHESIS_SEED:-20261128}"
requirement="${SCHEMATHESIS_VERSION:-schemathesis>=4,<5}"
tools_dir="${PYBASE_TOOLS_DIR:-$HOME/.cache/pybase-tools}"
venv="$tools_dir/venv"
target_dir="${CARGO_TARGET_DIR:-target}"

skip() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "SKIPPED schemathesis: $1" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    if [ "${PYBASE_REQUIRE_SERVICES:-}" = "1" ]; then
        exit 1
    fi
    exit 0
}

# schemathesis 4.x in the tools venv, installed by one run at a time
# (scripts/test.sh starts two at once: the second waits for the first's
# install, then finds it).
st="$venv/bin/st"
if ! command -v python3 >/dev/null 2>&1; then
    skip "python3 is not installed"
fi
mkdir -p "$tools_dir"
exec 9>"$tools_dir/.schemathesis-install.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if ! { [ -x "$st" ] && "$st" --version 2>/dev/null | grep -q 'version 4\.'; }; then
    if ! { { [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"; } &&
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$requirement"; }; then
        skip "could not install $requirement into $venv"
    fi
fi
if command -v flock >/dev/null 2>&1; then
    flock -u 9
fi
exec 9>&-
"$st" --version

work="$(mktemp -d)"
server_pid=""
pg_db=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$pg_db" ]; then
        psql "$pg_admin_url" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The database: SQLite in the work folder, or a fresh PostgreSQL database.
if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
    backend=postgres
    # The server's URL with its database replaced by the maintenance one.
    pg_admin_url="${PYBASE_TEST_POSTGRES_URL%/*}/postgres"
    pg_db="pybase_st_$$_$(date +%s)"
    psql "$pg_admin_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $pg_db" >/dev/null
    database_url="${PYBASE_TEST_POSTGRES_URL%/*}/$pg_db"
else
    backend=sqlite
    database_url="sqlite://$work/pybase.db"
fi

cargo build --quiet -p pybase-server
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base_url="http://127.0.0.1:$port"
PYBASE_DATA_DIR="$work/data" PORT="$port" HOST=127.0.0.1 DATABASE_URL="$database_url" \
    RUST_LOG="${RUST_LOG:-warn}" \
    "$target_dir/debug/pybase-server" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    if curl -fsS "$base_url/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/server.log" >&2
        echo "the server exited before answering /health" >&2
        exit 1
    fi
    sleep 0.2
done

# A user, an API key, and the resources whose ids the paths take.
"$venv/bin/python" scripts/schemathesis_fixture.py "$base_url" "$work/schemathesis.toml" >/dev/null

echo "== schemathesis on $backend: all checks, all phases, $max_examples examples per operation, seed $seed =="
started=$(date +%s)
status=0
"$st" --config-file "$work/schemathesis.toml" run "$base_url/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-database none \
    --continue-on-failure \
    --request-timeout 20 \
    --workers 2 \
    --no-color \
    --report junit,ndjson,har --report-dir "$work/report" \
    >"$work/st.log" 2>&1 || status=$?
elapsed=$(( $(date +%s) - started ))
# The failures and the summary (the warnings list operations, not failures).
sed -n '/^=* FAILURES =*$/,/^=* WARNINGS =*$/p; /^=* SUMMARY =*$/,$p' "$work/st.log"

# Figures: operations tested and failures (NDJSON events), requests sent
# (HAR: every interaction).
"$venv/bin/python" - "$work/report" "$backend" "$elapsed" "$status" <<'EOF'
import collections, glob, json, sys
report, backend, elapsed, status = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
operations, failures = set(), collections.Counter()
for path in glob.glob(report + "/*.ndjson"):
    with open(path) as f:
        for line in f:
            data = json.loads(line).get("ScenarioFinished")
            if not data:
                continue
            recorder = data.get("recorder") or {}
            if data.get("phase") != "stateful" and data.get("status") in ("success", "failure"):
                operations.add(recorder.get("label"))
            for checks in (recorder.get("checks") or {}).values():
                for check in checks:
                    if check.get("status") == "failure":
                        info = (check.get("failure_info") or {}).get("failure") or {}
                        failures[f"{check['name']} ({info.get('code', '?')})"] += 1
requests = 0
for path in glob.glob(report + "/har-*.json"):
    with open(path) as f:
        requests += len(json.load(f)["log"]["entries"])
print(f"schemathesis on {backend}: {len(operations)} operations tested, {requests} requests sent, "
      f"{sum(failures.values())} failed checks, {elapsed} s, exit {status}")
for name, count in sorted(failures.items()):
    print(f"  {name}: {count}")
EOF
if [ "$status" -ne 0 ]; then
    echo "schemathesis failed on $backend (exit $status); server log tail:" >&2
    tail -n 20 "$work/server.log" >&2
    exit "$status"
fi
