#!/usr/bin/env bash
# Fuzzes the ONNX importer with libFuzzer under ASan + UBSan.
#
#   scripts/fuzz.sh [SECONDS]     (default 60; scripts/test.sh runs 60)
#
# Builds tools/moe-import-fuzzer in build-fuzz/ (our code instrumented,
# libMLIR/protobuf not), seeds a corpus with the test suite's valid and
# malformed models, and runs for SECONDS. A crash stops the run with exit
# status 1 and leaves the input in build-fuzz/artifacts/; add it to
# test/Import/ONNX/fuzz-regressions/ once fixed. Longer runs keep growing
# build-fuzz/corpus (e.g. `scripts/fuzz.sh 3600`). MOE_FUZZ_SEED fixes
# libFuzzer's seed (0, the default: random) and MOE_FUZZ_RUNS caps the
# number of inputs tried; scripts/test.sh sets both so that CI tries the
# same inputs each time (a run is deterministic, not a lottery).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
DURATION="${1:-60}"

if [ ! -f /usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.fuzzer-x86_64.a ]; then
  echo "fuzz: clang-22's libFuzzer runtime is missing (libclang-rt-22-dev): skipped"
  exit 0
fi

export CCACHE_BASEDIR="$ROOT"
export CCACHE_NOHASHDIR=1
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -gline-tables-only"
"$ROOT/scripts/configure.sh" "$BUILD" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DMOE_ENABLE_FUZZER=ON -DMOE_ENABLE_PYTHON=OFF -DMOE_ENABLE_CUDA=OFF >/dev/null
ninja -C "$BUILD" moe-import-fuzzer >/dev/null

# Seeds: every model the tests build, valid or not.
corpus="$BUILD/corpus"
mkdir -p "$corpus" "$BUILD/artifacts"
if [ -z "$(ls -A "$corpus")" ]; then
  PYTHONPATH="$ROOT/test/lib" "$ROOT/.venv/bin/python" - "$corpus" <<'PY'
import os, sys, tempfile
import bad_models, onnx_models
out = sys.argv[1]
for name, build in onnx_models.MODELS.items():
    build(os.path.join(out, name + ".onnx"))
onnx_models.microsoft_moe(os.path.join(out, "moe.onnx"), 4, 8, 6,
                          activation="swiglu", k=2, fusion=1, biases=True)
with tempfile.TemporaryDirectory() as bad:
    bad_models.write_all(bad)
    for name in os.listdir(bad):
        path = os.path.join(bad, name)
        if name.endswith(".onnx") and os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f, open(os.path.join(out, "bad_" + name), "wb") as g:
                g.write(f.read())
PY
fi

echo "fuzz: running the importer fuzzer for ${DURATION}s on $(ls "$corpus" | wc -l) inputs"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:allow_user_poisoning=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$BUILD/bin/moe-import-fuzzer" "$corpus" -max_total_time="$DURATION" \
  -seed="${MOE_FUZZ_SEED:-0}" ${MOE_FUZZ_RUNS:+-runs="$MOE_FUZZ_RUNS"} \
  -max_len=262144 -rss_limit_mb=3072 -timeout=20 -print_final_stats=1 \
  -artifact_prefix="$BUILD/artifacts/" 2>&1 | grep -v "^#[0-9]*.*\(NEW\|REDUCE\|pulse\)" || {
  echo "fuzz: the importer crashed; the input is in $BUILD/artifacts/"
  exit 1
}
echo "fuzz: no crash (${MOE_FUZZ_RUNS:-${DURATION}s of} inputs)"
