#!/usr/bin/env bash
# Installs a git pre-commit hook that runs CI's first two checks before each
# commit:
#   cargo fmt --all -- --check
#   cargo clippy --workspace --all-targets -- -D warnings
#
#   bash scripts/install-hooks.sh           # install or update the hook
#   bash scripts/install-hooks.sh --force   # replace a hook of your own
#                                           # (kept as pre-commit.backup)
#
# The hook checks the working tree (not only what is staged). Skip it once
# with `git commit --no-verify`; remove it with `rm "$(git rev-parse
# --git-path hooks)/pre-commit"`.
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
case "${1:-}" in
"") ;;
--force) force=1 ;;
*)
    echo "usage: bash scripts/install-hooks.sh [--force]" >&2
    exit 2
    ;;
esac

marker="# installed by PyBase scripts/install-hooks.sh"
# Honours core.hooksPath and linked worktrees.
hooks_dir="$(git rev-parse --git-path hooks)"
hook="$hooks_dir/pre-commit"

if [ -e "$hook" ] && ! grep -qF "$marker" "$hook"; then
    if [ "$force" != 1 ]; then
        echo "error: $hook exists and was not installed by this script;" >&2
        echo "       rerun with --force to replace it (it is kept as pre-commit.backup)" >&2
        exit 1
    fi
    cp -p "$hook" "$hook.backup"
    echo "kept your hook as $hook.backup" >&2
fi

mkdir -p "$hooks_dir"
tmp="$(mktemp "$hooks_dir/pre-commit.XXXXXX")"
cat >"$tmp" <<HOOK
#!/usr/bin/env bash
$marker
# Runs CI's formatting and lint checks before each commit (see .ci/run).
# Skip once with: git commit --no-verify
set -euo pipefail
cd "\$(git rev-parse --show-toplevel)"

echo "pre-commit: cargo fmt --all -- --check" >&2
if ! cargo fmt --all -- --check; then
    echo "pre-commit: formatting differs; run 'cargo fmt --all', stage the result and commit again" >&2
    exit 1
fi

echo "pre-commit: cargo clippy --workspace --all-targets -- -D warnings" >&2
if ! cargo clippy --workspace --all-targets -- -D warnings; then
    echo "pre-commit: clippy found warnings; fix them and commit again" >&2
    exit 1
fi
HOOK
chmod 755 "$tmp"
mv "$tmp" "$hook"
echo "installed $hook (cargo fmt --check, cargo clippy -D warnings)"
