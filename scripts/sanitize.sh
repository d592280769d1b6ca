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
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -shared-libasan -fno-omit-frame-pointer -gline-tables-only"
link="-fsanitize=address,undefined -shared-libasan"
"$ROOT/scripts/configure.sh" "$BUILD" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" \
  -DMOE_LINKER_FLAGS="$link" -DMOE_ENABLE_CUDA=OFF >/dev/null
ninja -C "$BUILD"

export LD_PRELOAD="$ASAN_LIB"
# allow_user_poisoning=0: libLLVM is not instrumented, but the LLVM
# allocator headers our code inlines poison memory that libLLVM then
# reuses (false use-after-poison reports).
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:allow_user_poisoning=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The emulated CUDA kernels' test with its quick set of random trials.
/usr/lib/llvm-22/bin/lit -sv --param cuda_emulation_quick=1 "$BUILD/test"
