//===- MoEToLinalg.h - Reference lowering of moe ops ------------*- C++ -*-===//
//
// The reference lowering of the moe dialect to upstream linalg/tensor.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
#define MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace moe {

#define GEN_PASS_DECL_CONVERTMOETOLINALGPASS
#include "moe/Conversion/Passes.h.inc"

/// Adds the patterns that lower every moe op to linalg/tensor/arith/math.
void populateMoEToLinalgPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETOLINALG_MOETOLINALG_H
