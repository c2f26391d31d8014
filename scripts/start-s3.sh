#!/usr/bin/env bash
# Starts an S3-compatible server (s3s-fs) on 127.0.0.1 for tests, installing
# it first if needed, and prints the variables the tests read.
#
#   eval "$(scripts/start-s3.sh)"      # exports PYBASE_TEST_S3_* and S3_PID
#   kill "$S3_PID"                      # when done
#
# Settings (environment): PYBASE_TOOLS_DIR (install root, default
# ~/.cache/pybase-tools), S3_PORT (9000), S3_DATA_DIR (a fresh temp dir),
# S3_BUCKET (pybase-test), S3_ACCESS_KEY (K), S3_SECRET_KEY (S).
# Progress goes to stderr; only `export` lines go to stdout.
set -euo pipefail

tools="${PYBASE_TOOLS_DIR:-$HOME/.cache/pybase-tools}"
port="${S3_PORT:-9000}"
bucket="${S3_BUCKET:-pybase-test}"
access="${S3_ACCESS_KEY:-K}"
secret="${S3_SECRET_KEY:-S}"
data="${S3_DATA_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pybase-s3.XXXXXX")}"
bin="$tools/bin/s3s-fs"

if [ ! -x "$bin" ] && command -v s3s-fs >/dev/null 2>&1; then
    bin="$(command -v s3s-fs)"
fi
if [ ! -x "$bin" ]; then
    echo "installing s3s-fs 0.14.1 into $tools (about 3 minutes)..." >&2
    # Later releases need a newer Rust than the pinned toolchain.
    cargo install s3s-fs@0.14.1 --features binary --locked --root "$tools" >&2
fi

# Each bucket is a folder of the data dir.
mkdir -p "$data/$bucket"

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

if port_open; then
    echo "something already listens on 127.0.0.1:$port; not starting another server" >&2
    exit 1
fi

"$bin" --host 127.0.0.1 --port "$port" --access-key "$access" --secret-key "$secret" "$data" \
    >"$data.log" 2>&1 &
pid=$!

for _ in $(seq 1 100); do
    if port_open; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "s3s-fs exited; its log:" >&2
        cat "$data.log" >&2
        exit 1
    fi
    sleep 0.1
done
if ! port_open; then
    echo "s3s-fs did not open 127.0.0.1:$port within 10 s" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
fi

echo "s3s-fs (pid $pid) serves $data on 127.0.0.1:$port, log in $data.log" >&2
cat <<VARS
export S3_PID=$pid
export PYBASE_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export PYBASE_TEST_S3_ACCESS_KEY_ID=$access
export PYBASE_TEST_S3_SECRET_ACCESS_KEY=$secret
export PYBASE_TEST_S3_BUCKET=$bucket
VARS
