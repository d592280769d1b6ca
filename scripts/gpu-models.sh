#!/usr/bin/env bash
# Compiles the --target=cuda test models here (LLVM/MLIR and torch needed)
# into build-gpu-models/ with their inputs and onnxruntime's outputs, plus
# the libtbb they load, so that scripts/gpu-check.sh can run them on a GPU
# machine that has only nvcc and Python (carry build-gpu-models along).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build-gpu-models"
rm -rf "$OUT" "$OUT.work" && mkdir -p "$OUT.work"
export PATH="$ROOT/build/bin:$PATH"
export PYTHONPATH="$ROOT/build/python_packages:$ROOT/test/lib"
MOE_GPU_MODELS_DIR="$OUT" "$ROOT/.venv/bin/python" \
  "$ROOT/test/Integration/CUDA/target_cuda.py" "$OUT.work" > /dev/null
cp -L "$(ldconfig -p | awk '/libtbb.so.12 /{print $NF; exit}')" "$OUT/"
rm -rf "$OUT.work"
ls "$OUT" | wc -l | xargs echo "gpu-models: files in $OUT:"
# The device machine takes at most 64 MiB of carried files in all.
size=$(du -sm "$OUT" | cut -f1)
echo "gpu-models: ${size} MB"
if [ "$size" -gt 60 ]; then
  echo "gpu-models: warning: over 60 MB, too much to carry to the device machine" >&2
fi
