#!/usr/bin/env bash
# Installs Airtable's own clients once, for the /v0 tests
# (pybase-server/tests/it/v0_clients.rs): pyairtable from PyPI into a venv
# and airtable.js from npm, under $PYBASE_TOOLS_DIR/airtable-clients
# (default ~/.cache/pybase-tools/airtable-clients). Prints the folder, which
# scripts/test.sh exports as PYBASE_TEST_AIRTABLE_CLIENTS.
#
# Versions: PYAIRTABLE_VERSION (default 3.5.1), AIRTABLE_JS_VERSION (default
# 0.12.2), the ones AIRTABLE.md was checked against. A failed install exits
# non-zero: scripts/test.sh then leaves the variable unset, so the client
# tests skip loudly, or fail under PYBASE_REQUIRE_SERVICES=1 (as CI sets).
set -euo pipefail
cd "$(dirname "$0")/.."

tools_dir="${PYBASE_TOOLS_DIR:-$HOME/.cache/pybase-tools}"
dir="$tools_dir/airtable-clients"
py_version="${PYAIRTABLE_VERSION:-3.5.1}"
js_version="${AIRTABLE_JS_VERSION:-0.12.2}"
mkdir -p "$dir"

if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is not installed" >&2
    exit 1
fi
if ! "$dir/venv/bin/python" -c "import pyairtable, sys; sys.exit(pyairtable.__version__ != '$py_version')" 2>/dev/null; then
    [ -x "$dir/venv/bin/pip" ] || python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "pyairtable==$py_version" >&2
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "npm is not installed" >&2
    exit 1
fi
if ! grep -q "\"version\": \"$js_version\"" "$dir/node/node_modules/airtable/package.json" 2>/dev/null; then
    mkdir -p "$dir/node"
    (cd "$dir/node" && npm install --silent --no-audit --no-fund --prefix . "airtable@$js_version" >&2)
fi
echo "$dir"
