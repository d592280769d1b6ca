#!/usr/bin/env bash
# Configures a build tree of the MoE compiler once (Ninja, clang-22, lld,
# Debian's LLVM/MLIR 22, ccache): scripts/configure.sh BUILD_DIR [cmake
# args...]. build.sh, fuzz.sh and sanitize.sh share it; their extra args
# pick sanitizers and features. A configured tree is left as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$1"
shift
[ -f "$BUILD/build.ninja" ] && exit 0
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
  "${launcher[@]}" "$@"
