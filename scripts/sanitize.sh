#!/usr/bin/env bash
# The whole lit suite on an ASan + UBSan build (build-asan/).
#
#   scripts/sanitize.sh            (a cold build takes ~15 min on 2 cores;
#                                   ccache makes reruns fast)
#
# Everything of ours is instrumented and uses the shared ASan runtime
# (-shared-libasan), preloaded into the processes we do not build
# (python, mlir-runner), so compiled models, the runtime and the Python
# tests run instrumented too. Leak checking is off: Python and the JIT keep
# memory on purpose at exit. Any sanitizer report fails the test it occurs in.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_ASAN_BUILD_DIR:-$ROOT/build-asan}"
ASAN_LIB=$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)

export CCACHE_BASEDIR="$ROOT"
export CCACHE_NOHASHDIR=1
if [ ! -f "$BUILD/build.ninja" ]; then
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -shared-libasan -fno-omit-frame-pointer -gline-tables-only"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined -shared-libasan" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined -shared-libasan" \
    -DMOE_LINKER_FLAGS="-fsanitize=address,undefined -shared-libasan" \
    -DLLVM_USE_LINKER=lld -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit -DMOE_ENABLE_CUDA=OFF \
    -DMOE_TEST_PYTHON="$ROOT/.venv/bin/python" "${launcher[@]}" >/dev/null
fi
ninja -C "$BUILD"

export LD_PRELOAD="$ASAN_LIB"
# allow_user_poisoning=0: libLLVM is not instrumented, but the LLVM
# allocator headers our code inlines poison memory that libLLVM then
# reuses (false use-after-poison reports).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:allow_user_poisoning=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
/usr/lib/llvm-22/bin/lit -sv "$BUILD/test"
