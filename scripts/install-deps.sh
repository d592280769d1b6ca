#!/usr/bin/env bash
# Installs what building and testing the MoE compiler needs, and nothing
# twice: the Debian packages that are missing, and the Python virtualenv
# .venv with requirements.txt. Safe to run again at any time.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

APT_PACKAGES=(
  cmake ninja-build ccache
  clang-22 lld-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libclang-rt-22-dev
  libtbb-dev libonnx-dev libprotobuf-dev protobuf-compiler
  pybind11-dev python3-dev python3-venv
  python3-torch
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The venv sees Debian's site packages (python3-torch, for exporting test
# models) and pins the rest from PyPI.
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  echo "install-deps: creating $VENV"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want=$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "install-deps: installing Python packages from requirements.txt"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt"
  echo "$want" >"$stamp"
fi
