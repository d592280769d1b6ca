#!/usr/bin/env bash
# Configures (once) and builds the MoE compiler into build/ with Ninja,
# clang-22 and ccache. Extra arguments go to ninja (e.g. a target name).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_BUILD_DIR:-$ROOT/build}"

# ccache hits across clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$ROOT"
export CCACHE_NOHASHDIR=1

if [ ! -f "$BUILD/build.ninja" ]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
              -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S "$ROOT" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
    -DMOE_TEST_PYTHON="$ROOT/.venv/bin/python" \
    "${launcher[@]}"
fi
ninja -C "$BUILD" "$@"
