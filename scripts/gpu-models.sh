#!/usr/bin/env bash
# Compiles the --target=cuda test models here (LLVM/MLIR and torch needed)
# with their inputs and onnxruntime's outputs, plus the libtbb they load,
# into build-gpu-models/models.tar.xz, so that scripts/gpu-check.sh can run
# them on a GPU machine that has only nvcc and Python (carry
# build-gpu-models along). Packed: every model links its own copy of the
# CUDA runtime (~4.5 MB, the same bytes), which xz's large window stores
# once - about 50 times smaller than the files, far under the device
# machine's 64 MiB carry limit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/build-gpu-models"
MODELS="$OUT.work/models"
rm -rf "$OUT" "$OUT.work" && mkdir -p "$OUT" "$MODELS" "$OUT.work/build"
export PATH="$ROOT/build/bin:$PATH"
export PYTHONPATH="$ROOT/build/python_packages:$ROOT/test/lib"
MOE_GPU_MODELS_DIR="$MODELS" "$ROOT/.venv/bin/python" \
  "$ROOT/test/Integration/CUDA/target_cuda.py" "$OUT.work/build" > /dev/null
cp -L "$(ldconfig -p | awk '/libtbb.so.12 /{print $NF; exit}')" "$MODELS/"
tar -C "$OUT.work" -cf - models |
  xz -9 -T2 --lzma2=preset=9,dict=192MiB > "$OUT/models.tar.xz"
echo "gpu-models: $(ls "$MODELS" | wc -l) files ($(du -sm "$MODELS" | cut -f1) MB)" \
  "packed into $OUT/models.tar.xz ($(du -k "$OUT/models.tar.xz" | cut -f1) KB)"
rm -rf "$OUT.work"
# The device machine takes at most 64 MiB of carried files in all.
size=$(du -sm "$OUT" | cut -f1)
if [ "$size" -gt 60 ]; then
  echo "gpu-models: warning: ${size} MB, too much to carry to the device machine" >&2
fi
