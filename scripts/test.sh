#!/usr/bin/env bash
# Runs PyBase's whole test suite against real services on this machine:
# PostgreSQL and Redis on their standard local ports, and an S3-protocol
# server (s3s-fs) that scripts/start-s3.sh installs and starts on loopback.
#
# Service-backed tests skip loudly when their service is unreachable; with
# PYBASE_REQUIRE_SERVICES=1 (as CI sets) they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

export PYBASE_TEST_POSTGRES_URL="${PYBASE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export PYBASE_TEST_REDIS_URL="${PYBASE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

# An S3-compatible server on loopback for the attachment tests.
if [ -z "${PYBASE_TEST_S3_ENDPOINT:-}" ]; then
    if s3_env=$(bash scripts/start-s3.sh); then
        eval "$s3_env"
        trap 'kill "$S3_PID" 2>/dev/null || true' EXIT
    else
        echo "warning: could not start the S3 test server; S3 tests will skip (or fail under PYBASE_REQUIRE_SERVICES=1)" >&2
    fi
fi

# Airtable's own clients (pyairtable from PyPI, airtable.js from npm) for
# the /v0 tests (pybase-server/tests/it/v0_clients.rs), installed once
# outside the clone by scripts/airtable-clients.sh.
if [ -z "${PYBASE_TEST_AIRTABLE_CLIENTS:-}" ]; then
    if clients_dir=$(bash scripts/airtable-clients.sh); then
        export PYBASE_TEST_AIRTABLE_CLIENTS="$clients_dir"
    elif [ "${PYBASE_REQUIRE_SERVICES:-}" = "1" ]; then
        echo "error: could not install pyairtable and airtable.js (scripts/airtable-clients.sh)" >&2
        exit 1
    else
        echo "warning: could not install pyairtable and airtable.js; the /v0 client tests will skip" >&2
    fi
fi

cargo test --workspace --all-targets --no-fail-fast "$@"
# --all-targets skips doctests: run them too, and run the embedding example
# (not only build it), so the quickstart in the README keeps working.
cargo test --workspace --doc "$@"
echo "== examples/quickstart.rs =="
cargo run --quiet -p pybase-examples --example quickstart

# The server's HTTP suite once more, on PostgreSQL instead of SQLite
# (pg_lifecycle runs on PostgreSQL in any case: not twice).
if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
    echo "== pybase-server HTTP suite on PostgreSQL =="
    PYBASE_TEST_SERVER_DATABASE_URL="$PYBASE_TEST_POSTGRES_URL" cargo test -p pybase-server --test it "$@" -- --skip pg_lifecycle::
fi

# The reliability suite (pybase-server/tests/it/reliability/, and the
# PostgreSQL restart of it/pg_lifecycle.rs; #[ignore]d in the runs above):
# SIGKILLs the server in the middle of 1,000-record batches on SQLite and
# PostgreSQL, and restarts PostgreSQL, Redis and an S3 server of its own
# under load. It restarts this machine's PostgreSQL and Redis (and leaves
# them running), so its cases run alone, one at a time. Each case prints one
# `reliability:` line of figures; PYBASE_RELIABILITY_ROUNDS and
# PYBASE_RELIABILITY_LONG=1 set the length (see the README).
echo "== reliability suite =="
cargo test -p pybase-server --test it "$@" -- --ignored --nocapture --test-threads=1

# The OpenAPI document, checked as OpenAPI 3.1 by a real validator
# (openapi-spec-validator, installed once in a venv outside the clone).
echo "== OpenAPI 3.1 validation of pybase-server openapi =="
skip_openapi() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "SKIPPED OpenAPI validation: $1" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    if [ "${PYBASE_REQUIRE_SERVICES:-}" = "1" ]; then
        exit 1
    fi
}
tools_dir="${PYBASE_TOOLS_DIR:-$HOME/.cache/pybase-tools}"
validator="$tools_dir/venv/bin/openapi-spec-validator"
if ! command -v python3 >/dev/null 2>&1; then
    skip_openapi "python3 is not installed"
elif [ ! -x "$validator" ] && ! { mkdir -p "$tools_dir" &&
    python3 -m venv "$tools_dir/venv" &&
    "$tools_dir/venv/bin/pip" install --quiet openapi-spec-validator; }; then
    skip_openapi "could not install openapi-spec-validator in $tools_dir/venv"
else
    doc="${CARGO_TARGET_DIR:-target}/openapi.json"
    cargo run --quiet -p pybase-server -- openapi >"$doc"
    "$validator" "$doc"
    # The Airtable-compatible /v0 API has a document of its own.
    doc_v0="${CARGO_TARGET_DIR:-target}/openapi-v0.json"
    cargo run --quiet -p pybase-server -- openapi-v0 >"$doc_v0"
    "$validator" "$doc_v0"
fi

# schemathesis (4.x, all checks and phases) against the running server's
# document, on SQLite and on PostgreSQL side by side: schemathesis's Python
# keeps one core busy (its workers share the GIL) while the server under
# test hardly uses the other, so two runs at once take little longer than
# one. Each logs to its own file, shown in order once both are done.
st_logs="$(mktemp -d)"
PYBASE_TEST_POSTGRES_URL='' bash scripts/schemathesis.sh >"$st_logs/sqlite.log" 2>&1 &
st_sqlite=$!
if [ -n "${PYBASE_TEST_POSTGRES_URL:-}" ]; then
    bash scripts/schemathesis.sh >"$st_logs/postgres.log" 2>&1 &
    st_postgres=$!
fi
st_failed=0
echo "== schemathesis on SQLite =="
wait "$st_sqlite" || st_failed=1
cat "$st_logs/sqlite.log"
if [ -n "${st_postgres:-}" ]; then
    echo "== schemathesis on PostgreSQL =="
    wait "$st_postgres" || st_failed=1
    cat "$st_logs/postgres.log"
fi
rm -rf "$st_logs"
if [ "$st_failed" != 0 ]; then
    echo "schemathesis failed (see above)" >&2
    exit 1
fi

# Deployment and CI configuration: docker-compose.yml and .env.example
# hygiene (no default secrets, pinned images, admin ports on loopback only).
# Same tools venv, same skip-or-fail rule.
bash scripts/check-config.sh
