#!/usr/bin/env bash
# Installs the pinned @grafana/schema and TypeScript (npm ci, into WORKDIR; the
# lock file is tests/dashboards/package-lock.json) and runs check.mjs.
#   tests/dashboards/check.sh WORKDIR [--expect-fail] FILE...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$1"; shift
command -v npm >/dev/null || { echo "check.sh: npm is missing (deploy/install-deps.sh test installs it)" >&2; exit 1; }
mkdir -p "$work"
(
  flock 9
  if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [[ ! -x "$work/node_modules/.bin/tsc" ]]; then
    cp "$here/package.json" "$here/package-lock.json" "$work/"
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
) 9>"$work.lock"
# One WORKDIR per caller (gen/ and tsconfig.json are rewritten per file).
run="$work/run-$$"
mkdir -p "$run"
ln -sfn "$work/node_modules" "$run/node_modules"
trap 'rm -rf "$run"' EXIT
node "$here/check.mjs" "$run" "$@"
