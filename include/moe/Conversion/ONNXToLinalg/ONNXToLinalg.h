//===- ONNXToLinalg.h - Lowering of the onnx dialect ------------*- C++ -*-===//
//
// Lowers the onnx mirror dialect to linalg/tensor/arith/math on tensors.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H
#define MOE_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace moe {

#define GEN_PASS_DECL_CONVERTONNXTOLINALGPASS
#include "moe/Conversion/Passes.h.inc"

/// Adds the patterns that lower every onnx op.
void populateONNXToLinalgPatterns(RewritePatternSet &patterns);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_ONNXTOLINALG_ONNXTOLINALG_H
