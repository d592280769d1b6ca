#!/usr/bin/env bash
# The one command for a session's GPU machine (the `device` tool's run,
# which copies back what lands in its $OUT): scripts/gpu-check.sh with its
# whole output in DIR/gpu-check.log and the ptxas report in DIR/nvcc.log,
# since the tool returns only the output's tail. Carry build-gpu-models
# (scripts/gpu-models.sh, made here first).
#
#   scripts/device-gpu-check.sh DIR [gpu-check arguments, e.g. --quick]
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:?usage: device-gpu-check.sh DIR [--quick]}
shift
mkdir -p "$DIR"
export PYTHONUNBUFFERED=1
"$ROOT/scripts/gpu-check.sh" "$@" 2>&1 | tee "$DIR/gpu-check.log"
status=${PIPESTATUS[0]}
cp "${MOE_GPU_BUILD_DIR:-$ROOT/build-gpu}/nvcc.log" "$DIR/" 2>/dev/null || true
exit "$status"
