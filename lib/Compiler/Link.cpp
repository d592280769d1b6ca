//===- Link.cpp - Link model objects into .so / executables ---------------===//
//
// A compiler driver (clang++ by default) links, because it knows where this
// system keeps the C++ runtime, libc and start files; linking in-process
// with lld would mean re-deriving all of that. The runtime archives come
// from the build tree or the install tree.
//
//===----------------------------------------------------------------------===//

#include "Link.h"

#include "moe/Compiler/Config.h"

#include "mlir/IR/Diagnostics.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::moe;

/// The directory holding the runtime archives, or "" (with an error).
static std::string findRuntimeDir(const CompileOptions &options,
                                  Location loc) {
  SmallVector<std::string> candidates;
  if (!options.runtimeLibraryDir.empty())
    candidates.push_back(options.runtimeLibraryDir);
  else
    candidates = {MOE_BUILD_LIBRARY_DIR, MOE_INSTALL_LIBRARY_DIR};
  for (const std::string &dir : candidates) {
    llvm::SmallString<256> probe(dir);
    llvm::sys::path::append(probe, "libmoe_model.a");
    if (llvm::sys::fs::exists(probe))
      return dir;
  }
  emitError(loc) << "cannot find the model runtime (libmoe_model.a) in '"
                 << llvm::join(candidates, "', '")
                 << "'; pass --runtime-dir=<dir holding libmoe_model.a>";
  return "";
}

LogicalResult moe::linkModel(StringRef object, StringRef output,
                             const CompileOptions &options, Location loc) {
  std::string runtimeDir = findRuntimeDir(options, loc);
  if (runtimeDir.empty())
    return failure();
  std::string driverName =
      options.linker.empty() ? MOE_LINKER_DRIVER : options.linker;
  llvm::ErrorOr<std::string> driver =
      llvm::sys::path::is_absolute(driverName)
          ? llvm::ErrorOr<std::string>(driverName)
          : llvm::sys::findProgramByName(driverName);
  if (!driver || !llvm::sys::fs::can_execute(*driver))
    return emitError(loc) << "cannot find the linker driver '" << driverName
                          << "'; pass --linker=<C++ compiler driver>";

  bool shared = options.emit == EmitKind::SharedLibrary;
  auto archive = [&](StringRef name) {
    llvm::SmallString<256> path(runtimeDir);
    llvm::sys::path::append(path, "lib" + name + ".a");
    return std::string(path);
  };

  // Shared libraries export the C API only (a version script hides the
  // runtime's and the graph's symbols).
  llvm::SmallString<128> versionScript;
  std::optional<llvm::FileRemover> removeScript;
  if (shared) {
    int fd;
    if (llvm::sys::fs::createTemporaryFile("moe-exports", "map", fd,
                                           versionScript))
      return emitError(loc) << "cannot create a temporary file";
    removeScript.emplace(versionScript);
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << "{ global: moe_model_*; moe_dtype_*; local: *; };\n";
  }

  SmallVector<std::string> args = {*driver};
  if (shared)
    args.append({"-shared", "-Wl,--version-script=" + versionScript.str().str()});
  args.append({"-o", output.str(), object.str()});
  if (!shared)
    args.append({archive("moe_model_main"), archive("moe_model_runner")});
  // Nothing in the graph's object refers to the C API: keep all of it.
  args.append({"-Wl,--whole-archive", archive("moe_model"),
               "-Wl,--no-whole-archive", archive("moe_model_signature")});
  if (options.target == "cuda") {
    // The CUDA runtime statically (its cache of device weights is then
    // this model's), cudart shared, found through the rpath or the
    // loader's path.
    std::string cudaRuntime = archive("moe_runtime_cuda");
    if (!llvm::sys::fs::exists(cudaRuntime) ||
        StringRef(MOE_CUDA_LIBRARY_DIR).empty())
      return emitError(loc)
             << "--target=cuda: this build has no CUDA runtime ('"
             << cudaRuntime
             << "' is missing; configure with nvcc available and "
                "-DMOE_ENABLE_CUDA=ON)";
    args.append({cudaRuntime, "-L" MOE_CUDA_LIBRARY_DIR,
                 "-Wl,-rpath," MOE_CUDA_LIBRARY_DIR, "-lcublas", "-lcudart"});
  }
  args.append({archive("moe_runtime_cpu"), "-ltbb", "-lm"});
  SmallVector<StringRef> extraFlags;
  StringRef(MOE_LINKER_FLAGS).split(extraFlags, ' ', -1, /*KeepEmpty=*/false);
  for (StringRef flag : extraFlags)
    args.push_back(flag.str());
  SmallVector<StringRef> argRefs(args.begin(), args.end());
  if (options.verbose)
    llvm::errs() << "moe-compile: linking: " << llvm::join(args, " ") << "\n";
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*driver, argRefs, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0)
    return emitError(loc) << "linking '" << output << "' failed ("
                          << driverName << ": "
                          << (message.empty() ? "exit code " + std::to_string(rc)
                                              : message)
                          << ")";
  return success();
}
