# -*- Python -*-
# lit configuration of the MoE compiler's regression suite (check-moe).

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".py", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")
# Helper modules imported by the Python tests are not tests themselves.
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "lib", "CMakeLists.txt"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%shlibext", config.shlib_ext))
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%moe_lib_dir", config.moe_lib_dir))
config.substitutions.append(("%moe_runtime_lib", os.path.join(
    config.moe_lib_dir, "libmoe_runtime_cpu" + config.shlib_ext)))
config.substitutions.append(
    (
        "%mlir_runner_utils",
        os.path.join(config.mlir_lib_dir, "libmlir_runner_utils" + config.shlib_ext),
    )
)
config.substitutions.append(
    (
        "%mlir_c_runner_utils",
        os.path.join(
            config.mlir_lib_dir, "libmlir_c_runner_utils" + config.shlib_ext
        ),
    )
)

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Our tools first, then the upstream ones (FileCheck, not, mlir-runner).
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.moe_tools_dir, append_path=True)
llvm_config.with_environment(
    "PYTHONPATH", os.path.join(config.test_source_root, "lib"), append_path=True
)
config.environment["MOE_TOOLS_DIR"] = config.moe_tools_dir
config.environment["MOE_LLVM_TOOLS_DIR"] = config.llvm_tools_dir
config.environment["MOE_MLIR_LIB_DIR"] = config.mlir_lib_dir
config.environment["MOE_RUNTIME_LIB"] = os.path.join(
    config.moe_lib_dir, "libmoe_runtime_cpu" + config.shlib_ext)

tools = [
    "moe-opt",
    "moe-translate",
    "moe-compile",
    "moe-run",
    ToolSubst("mlir-runner", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, [config.moe_tools_dir, config.llvm_tools_dir])

# Tests that export models with PyTorch need Debian's python3-torch, seen
# through the venv (scripts/install-deps.sh installs both).
import subprocess

if subprocess.run([config.python_executable, "-c", "import torch"],
                  capture_output=True).returncode == 0:
    config.available_features.add("torch")

# The CUDA runtime: its host-side tests need only the library (built when
# nvcc is found); its kernel tests need a GPU (scripts/gpu-check.sh).
cuda_lib = os.path.join(config.moe_lib_dir, "libmoe_runtime_cuda" + config.shlib_ext)
if os.path.exists(cuda_lib):
    config.available_features.add("cuda-runtime")
    config.environment["MOE_CUDA_RUNTIME_LIB"] = cuda_lib
    probe = ("import sys\n"
             f"sys.path.insert(0, {os.path.join(config.test_source_root, 'lib')!r})\n"
             "import cuda_devices\n"
             "sys.exit(0 if cuda_devices.device_count() > 0 else 1)\n")
    if subprocess.run([config.python_executable, "-c", probe],
                      capture_output=True).returncode == 0:
        config.available_features.add("gpu")

# The CUDA runtime's sources built for the host and run by the SIMT
# emulator (runtime/cuda/emulation): its kernel tests need no GPU.
emulated_cuda_lib = os.path.join(config.moe_lib_dir,
                                 "libmoe_runtime_cuda_emulated" + config.shlib_ext)
if os.path.exists(emulated_cuda_lib):
    config.available_features.add("cuda-emulation")
    config.substitutions.append(("%cuda_emulation", emulated_cuda_lib))
    # --param cuda_emulation_quick=1 (scripts/sanitize.sh: instrumented,
    # the emulation is several times slower): fewer random kernel trials.
    if lit_config.params.get("cuda_emulation_quick"):
        config.environment["MOE_GPU_KERNELS_QUICK"] = "1"
        config.available_features.add("cuda-emulation-quick")
