#!/usr/bin/env bash
# GPU checks of the CUDA runtime, for a machine with an NVIDIA GPU (the
# device machine, or any CUDA box): builds runtime/cuda with nvcc alone (no
# LLVM/MLIR needed), runs the host-side and kernel tests against NumPy,
# then the GPU benchmark. Python needs numpy (tests) and torch (benchmark).
# When build-gpu-models/models.tar.xz is there (made by
# scripts/gpu-models.sh on the build machine and carried along), the
# models compiled with --target=cuda run too, against onnxruntime's saved
# outputs.
#
#   scripts/gpu-check.sh [--quick]     (--quick: benchmark small cases only)
#
# GPU_CHECK_STEPS picks steps (below), GPU_CHECK_DEADLINE bounds the whole
# run; the runtime is rebuilt only where its sources changed.
#
# GPU_ARCH (default 90a, the H200) picks the one architecture to build, to
# keep the build short; CI builds 80 and 90a through CMake.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="${MOE_GPU_BUILD_DIR:-$ROOT/build-gpu}"
PYTHON="${PYTHON:-python3}"
NVCC="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
ARCH="${GPU_ARCH:-90a}"

nvidia-smi -L
mkdir -p "$OUT/obj"
# One object per source, compiled in parallel and only when it or a header
# changed since (a warm machine keeps build-gpu/: a rerun after a fix
# rebuilds what the fix touched), then linked.
echo "gpu-check: building the CUDA runtime for sm_$ARCH (ptxas report: $OUT/nvcc.log)"
newest_header=$(ls -t "$ROOT"/runtime/cuda/*.h "$ROOT"/runtime/cuda/*.cuh \
  "$ROOT"/runtime/common/*.h "$ROOT"/runtime/include/*.h | head -1)
compile() {
  local source=$1 object="$OUT/obj/$(basename "$1").o"
  if [ -f "$object" ] && [ "$object" -nt "$source" ] && [ "$object" -nt "$newest_header" ]; then
    return 0
  fi
  "$NVCC" -O3 -std=c++17 -Xcompiler -fPIC -lineinfo --expt-relaxed-constexpr \
    -Xptxas -v -gencode "arch=compute_$ARCH,code=sm_$ARCH" \
    -I "$ROOT/runtime/include" -I "$ROOT/runtime/common" \
    -c "$source" -o "$object" > "$object.log" 2>&1 || { rm -f "$object"; return 1; }
}
export -f compile
export NVCC ARCH ROOT OUT newest_header
built=0
ls "$ROOT"/runtime/cuda/*.cu | xargs -P "$(nproc)" -I{} bash -c 'compile "$@"' _ {} || built=1
cat "$OUT"/obj/*.log > "$OUT/nvcc.log" 2>/dev/null || true
if [ "$built" -ne 0 ] || ! "$NVCC" -shared "$OUT"/obj/*.cu.o -lcublas \
    -o "$OUT/libmoe_runtime_cuda.so" >> "$OUT/nvcc.log" 2>&1; then
  cat "$OUT/nvcc.log"
  echo "gpu-check: FAILED: the nvcc build"
  exit 1
fi
# Warnings and spills (register pressure) are worth seeing in the log.
grep -E "warning|[1-9][0-9]* bytes spill" "$OUT/nvcc.log" || true

export MOE_CUDA_RUNTIME_LIB="$OUT/libmoe_runtime_cuda.so"
export PYTHONPATH="$ROOT/test/lib${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# Every step runs even when one before it failed (a GPU session is short:
# one run should tell all it can); the exit status counts the failures.
failed=()
# The whole check stops at GPU_CHECK_DEADLINE seconds (default 500: a lent
# GPU machine's command may run 600), skipping what no longer fits.
DEADLINE=${GPU_CHECK_DEADLINE:-500}
# GPU_CHECK_STEPS (e.g. "kernels,models"; default all) picks steps by key,
# for a rerun of what failed: host, kernels, graph-ops, attention, models, bench,
# layer-bench, attention-bench, wmma, wgmma, wgmma-bench, sanitizer,
# graph-sanitizer, attention-sanitizer, racecheck, graph-racecheck.
STEPS=",${GPU_CHECK_STEPS:-host,kernels,graph-ops,attention,models,bench,layer-bench,attention-bench,wmma,wgmma,wgmma-bench,sanitizer,graph-sanitizer,attention-sanitizer,racecheck,graph-racecheck},"
# step KEY NAME SECONDS COMMAND...: runs COMMAND for at most SECONDS (a hung
# or slow step must not eat the session's device time), noting a failure.
step() {
  local key=$1 name=$2 limit=$3
  shift 3
  [[ "$STEPS" == *",$key,"* ]] || return 0
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 15 ]; then
    echo "gpu-check: SKIPPED: $name (the ${DEADLINE} s deadline)"
    failed+=("$name: skipped")
    return
  fi
  [ "$limit" -le "$left" ] || limit=$left
  echo "gpu-check: $name"
  local status=0
  timeout "$limit" "$@" || status=$?
  if [ "$status" -eq 124 ]; then
    echo "gpu-check: FAILED: $name (stopped after ${limit} s)"
    failed+=("$name: timed out")
  elif [ "$status" -ne 0 ]; then
    echo "gpu-check: FAILED: $name"
    failed+=("$name")
  fi
}
# The most telling steps first: the default kernels, the compiled models,
# the benchmark; then the forced and opt-in kernels, then the sanitizer
# (slowest).
step host "host-side tests" 60 "$PYTHON" "$ROOT/test/Runtime/CUDA/host_logic.py"
step kernels "kernel tests against NumPy" 120 "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_kernels.py"
step graph-ops "graph-op kernel tests against NumPy" 60 \
  "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_graph_ops.py"
step attention "fused attention kernel tests against NumPy" 60 \
  "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_attention_ops.py"
# Models compiled with --target=cuda (scripts/gpu-models.sh, on the build
# machine) against onnxruntime's outputs, when they were carried along.
PACKED="$ROOT/build-gpu-models/models.tar.xz"
if [ -f "$PACKED" ]; then
  MODELS="$OUT/models"
  rm -rf "$MODELS"
  # Python's tarfile (lzma), so that no xz binary is needed there.
  "$PYTHON" -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2],
    **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))" \
    "$PACKED" "$OUT"
  CUDA_LIB=$(dirname "$(dirname "$NVCC")")/lib64
  step models "models compiled with --target=cuda" 120 \
    env LD_LIBRARY_PATH="$MODELS:$CUDA_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    "$PYTHON" "$ROOT/test/lib/run_compiled_models.py" "$MODELS"
else
  echo "gpu-check: no $PACKED (scripts/gpu-models.sh): compiled models skipped"
fi
step bench "benchmark" 180 "$PYTHON" "$ROOT/benchmarks/bench_cuda_grouped.py" "$@"
step layer-bench "whole-layer benchmark against PyTorch" 150 \
  "$PYTHON" "$ROOT/benchmarks/bench_cuda_layer.py" "$@"
step attention-bench "fused attention benchmark against PyTorch" 120 \
  "$PYTHON" "$ROOT/benchmarks/bench_cuda_attention.py" "$@"
step wmma "kernel tests against NumPy, bf16 on the WMMA kernel" 120 \
  env MOE_CUDA_GROUPED_MATMUL=wmma "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_kernels.py"
step wgmma "kernel tests against NumPy, 16-bit on the experimental wgmma kernel" 120 \
  env MOE_CUDA_GROUPED_MATMUL=wgmma "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_kernels.py"
step wgmma-bench "benchmark, 'ours bf16' on the experimental wgmma kernel" 180 \
  env MOE_CUDA_GROUPED_MATMUL=wgmma "$PYTHON" "$ROOT/benchmarks/bench_cuda_grouped.py" "$@"
# Out-of-bounds and misaligned accesses, uninitialized reads of device
# memory: the kernel tests (fewer trials) under compute-sanitizer, when the
# toolkit has it.
SANITIZER=$(dirname "$NVCC")/compute-sanitizer
if [ -x "$SANITIZER" ]; then
  step sanitizer "kernel tests under compute-sanitizer memcheck" 240 \
    env MOE_GPU_KERNELS_QUICK=1 "$SANITIZER" --tool memcheck --error-exitcode 1 \
    "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_kernels.py"
  step graph-sanitizer "graph-op kernel tests under compute-sanitizer memcheck" 60 \
    "$SANITIZER" --tool memcheck --error-exitcode 1 \
    "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_graph_ops.py"
  step attention-sanitizer "attention kernel tests under compute-sanitizer memcheck" 60 \
    "$SANITIZER" --tool memcheck --error-exitcode 1 \
    "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_attention_ops.py"
  # Shared-memory races (what the emulator cannot show: its threads switch
  # only at barriers), with the wgmma kernel opted in on Hopper.
  step racecheck "kernel tests under compute-sanitizer racecheck" 180 \
    env MOE_GPU_KERNELS_QUICK=1 MOE_CUDA_GROUPED_MATMUL=wgmma "$SANITIZER" \
    --tool racecheck --error-exitcode 1 \
    "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_kernels.py"
  # The attention kernel's staged k/v rows and its last split's merge.
  step graph-racecheck "attention kernel tests under compute-sanitizer racecheck" 120 \
    "$SANITIZER" --tool racecheck --error-exitcode 1 \
    "$PYTHON" "$ROOT/test/Runtime/CUDA/gpu_attention_ops.py"
else
  echo "gpu-check: no compute-sanitizer next to nvcc: memcheck and racecheck skipped"
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf 'gpu-check: %d step(s) failed:' "${#failed[@]}"
  printf ' [%s]' "${failed[@]}"
  echo
  exit 1
fi
echo "gpu-check: all steps passed"
