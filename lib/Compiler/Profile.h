//===- Profile.h - Routing profiles for profile-guided compilation -*- C++ -*-=//

#ifndef MOE_LIB_COMPILER_PROFILE_H
#define MOE_LIB_COMPILER_PROFILE_H

#include "mlir/IR/BuiltinOps.h"

namespace mlir::moe {

/// Numbers the module's moe.layer ops in walk order (`moe.layer_index`,
/// which the routing statistics report as "layer") and, with a profile
/// from `moe-run --profile` (docs/Statistics.md), attaches each layer's
/// recorded loads (`moe.expert_loads`); the grouped matmuls then schedule
/// the busiest experts' work first. Errors name the profile file.
LogicalResult annotateLayers(ModuleOp module, StringRef profilePath);

} // namespace mlir::moe

#endif // MOE_LIB_COMPILER_PROFILE_H
