//===- Link.h - Link model objects into .so / executables -------*- C++ -*-===//

#ifndef MOE_LIB_COMPILER_LINK_H
#define MOE_LIB_COMPILER_LINK_H

#include "moe/Compiler/Compiler.h"

#include "mlir/IR/Location.h"

namespace mlir::moe {

/// Links `object` with the model C API and the CPU runtime into
/// `output` (a shared library or an executable, by `options.emit`) with
/// the system's compiler driver.
LogicalResult linkModel(StringRef object, StringRef output,
                        const CompileOptions &options, Location loc);

} // namespace mlir::moe

#endif // MOE_LIB_COMPILER_LINK_H
