#!/usr/bin/env bash
# The MoE compiler on a bundled example: installs what is missing, builds
# into build/, then exports a Mixtral-style MoE block to ONNX, compiles it
# with moe-compile, runs it with moe-run and checks it against onnxruntime
# (examples/mixtral_demo.py).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" moe-opt moe-translate moe-compile moe-run \
  moe_model moe_model_main moe_runtime_cpu >/dev/null
echo "built $BUILD/bin"
echo
PATH="$BUILD/bin:$PATH" exec "$ROOT/.venv/bin/python" \
  "$ROOT/examples/mixtral_demo.py"
