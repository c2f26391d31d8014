#!/usr/bin/env bash
# Line coverage of the whole workspace's tests (unit, conformance on SQLite
# and PostgreSQL, HTTP, Redis and S3 suites) with cargo-tarpaulin's LLVM
# engine, which needs no LLVM tools beside the compiler. Prints the figure
# and fails below the floor (PYBASE_COVERAGE_FLOOR, default 50 percent).
#
# cargo-tarpaulin is installed from crates.io when missing (several minutes
# on a fresh machine, which is why .ci/run does not run this by default;
# the GitHub Actions workflow runs it as a job of its own, and
# PYBASE_COVERAGE=1 makes .ci/run run it too). The instrumented build goes
# to its own target folder so it never invalidates the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."

floor="${PYBASE_COVERAGE_FLOOR:-50}"
export PYBASE_TEST_POSTGRES_URL="${PYBASE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
export PYBASE_TEST_REDIS_URL="${PYBASE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

if ! cargo tarpaulin --version >/dev/null 2>&1; then
    echo "== installing cargo-tarpaulin from crates.io =="
    cargo install cargo-tarpaulin --locked
fi

if [ -z "${PYBASE_TEST_S3_ENDPOINT:-}" ]; then
    if s3_env=$(bash scripts/start-s3.sh); then
        eval "$s3_env"
        trap 'kill "$S3_PID" 2>/dev/null || true' EXIT
    fi
fi

cov_target="${PYBASE_COVERAGE_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/coverage}"
report="$(mktemp)"
cargo tarpaulin --engine llvm --workspace --all-targets --skip-clean \
    --target-dir "$cov_target" --exclude-files 'benches/*' \
    --timeout 600 --out Stdout 2>&1 | tee "$report" | grep -E '^(test result|[0-9.]+% coverage)' || true
figure=$(grep -Eo '^[0-9.]+% coverage, [0-9]+/[0-9]+ lines covered' "$report" | tail -n 1)
rm -f "$report"
if [ -z "$figure" ]; then
    echo "coverage: no figure (the run failed)" >&2
    exit 1
fi
echo "coverage of the workspace: $figure (floor ${floor}%)"
percent=${figure%%%*}
if ! awk -v p="$percent" -v f="$floor" 'BEGIN { exit !(p >= f) }'; then
    echo "coverage ${percent}% is below the floor of ${floor}%" >&2
    exit 1
fi
