//===- MoEToRuntime.h - Decomposed moe ops to runtime calls -----*- C++ -*-===//
//
// Lowers the decomposed moe ops to calls of the kernel runtime's moe_cc_*
// entry points (runtime/include/moe_runtime.h).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOETORUNTIME_MOETORUNTIME_H
#define MOE_CONVERSION_MOETORUNTIME_MOETORUNTIME_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace moe {

#define GEN_PASS_DECL_CONVERTMOETORUNTIMEPASS
#include "moe/Conversion/Passes.h.inc"

/// Adds the patterns that turn moe.route, moe.permute, moe.grouped_matmul
/// and moe.combine (f32 data, i32 indices) into runtime calls that run on
/// at most `numThreads` threads (0: all).
/// `bf16Weights`: constant grouped-matmul weights are packed as bfloat16.
void populateMoEToRuntimePatterns(RewritePatternSet &patterns,
                                  int32_t numThreads, bool bf16Weights = false);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETORUNTIME_MOETORUNTIME_H
