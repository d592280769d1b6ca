#!/usr/bin/env bash
# Copies the dialect and pass reference that the build generates from the
# .td files (target mlir-doc) into docs/reference/. With --check, only
# reports whether docs/reference/ is current.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh" mlir-doc >/dev/null

generated="$BUILD/docs"
target="$ROOT/docs/reference"
if [ "${1:-}" = "--check" ]; then
  if diff -r -u "$target" "$generated"; then
    echo "docs/reference is current"
  else
    echo "docs/reference is stale: run scripts/update-docs.sh and commit" >&2
    exit 1
  fi
  exit 0
fi
rm -rf "$target"
mkdir -p "$target"
cp -r "$generated"/. "$target"/
echo "updated $target"
