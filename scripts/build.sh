#!/usr/bin/env bash
# Configures (once) and builds the MoE compiler into build/ with Ninja,
# clang-22 and ccache. Extra arguments go to ninja (e.g. a target name).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_BUILD_DIR:-$ROOT/build}"

# ccache hits across clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$ROOT"
export CCACHE_NOHASHDIR=1

"$ROOT/scripts/configure.sh" "$BUILD"
ninja -C "$BUILD" "$@"
