#!/usr/bin/env bash
# The MoE compiler on a bundled example: installs what is missing, builds
# into build/, then lowers a Mixtral-style MoE layer through the reference
# pipeline, runs it and checks it against NumPy.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" moe-opt >/dev/null
echo "built $BUILD/bin/moe-opt"
echo
PATH="$BUILD/bin:/usr/lib/llvm-22/bin:$PATH" exec "$ROOT/.venv/bin/python" \
  "$ROOT/examples/mixtral_demo.py"
