#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite of the MoE
# compiler. Exits non-zero on any failure. .ci/run calls exactly this.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="${MOE_BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh"
"$ROOT/scripts/build.sh" mlir-doc

status=0
passed=0
failed=0

# 1. The lit suite (check-moe): dialect, passes, integration tests.
lit_log=$(mktemp)
if /usr/lib/llvm-22/bin/lit -sv "$BUILD/test" 2>&1 | tee "$lit_log"; then :; else status=1; fi
passed=$((passed + $(sed -n 's/^ *Passed *: *\([0-9]*\).*/\1/p' "$lit_log" | head -1 | grep . || echo 0)))
failed=$((failed + $(sed -n 's/^ *Failed *: *\([0-9]*\).*/\1/p' "$lit_log" | head -1 | grep . || echo 0)))
rm -f "$lit_log"

# 2. The Python package (python_bindings/tests, pytest), when it was built.
if [ -f "$BUILD/python_packages/moe_compiler/__init__.py" ]; then
  py_log=$(mktemp)
  if PYTHONPATH="$BUILD/python_packages:$ROOT/test/lib" \
     PATH="$BUILD/bin:$PATH" \
     MOE_RUNTIME_LIB="$BUILD/lib/libmoe_runtime_cpu.so" \
     "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider \
       "$ROOT/python_bindings/tests" 2>&1 | tee "$py_log"; then :; else status=1; fi
  passed=$((passed + $(grep -o '[0-9]* passed' "$py_log" | tail -1 | grep -o '[0-9]*' || echo 0)))
  failed=$((failed + $(grep -o '[0-9]* failed' "$py_log" | tail -1 | grep -o '[0-9]*' || echo 0)))
  rm -f "$py_log"
else
  echo "python bindings not built (pybind11 missing?): skipping their tests"
fi

# 3. A short fuzzing run of the importer (ASan + UBSan + libFuzzer, its own
#    build in build-fuzz/): 20000 inputs from a fixed seed (about a minute),
#    the same every run; scripts/fuzz.sh SECONDS explores at random.
if MOE_FUZZ_SEED="${MOE_FUZZ_SEED:-1}" MOE_FUZZ_RUNS="${MOE_FUZZ_RUNS:-20000}" \
   "$ROOT/scripts/fuzz.sh" "${MOE_FUZZ_SECONDS:-120}"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

# 4. The lit suite again on an ASan + UBSan build (build-asan/; ccache
#    keeps it to a few minutes once warm). MOE_SKIP_SANITIZE=1 skips it.
if [ "${MOE_SKIP_SANITIZE:-0}" != 1 ]; then
  if "$ROOT/scripts/sanitize.sh" >/tmp/moe-sanitize.log 2>&1; then
    echo "sanitizers: lit suite clean under ASan + UBSan"
    passed=$((passed + 1))
  else
    tail -50 /tmp/moe-sanitize.log
    echo "sanitizers: the lit suite failed under ASan + UBSan (log above)"
    failed=$((failed + 1))
    status=1
  fi
fi

# 5. The generated dialect and pass reference in docs/ must match the .td
#    files (scripts/update-docs.sh refreshes it).
if "$ROOT/scripts/update-docs.sh" --check; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

echo "moe: $passed passed, $failed failed"
exit $status
