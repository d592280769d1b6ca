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

#define GEN_PASS_DECL_CONVERTELEMENTWISETOCUDAPASS
#define GEN_PASS_DECL_CONVERTMOETORUNTIMEPASS
#define GEN_PASS_DECL_MOEMARKDEVICEIOPASS
#include "moe/Conversion/Passes.h.inc"

/// How constant grouped-matmul weights are packed: as they are (f32),
/// bfloat16, or int8 with one scale per expert and output column.
enum class WeightStorage { F32, BF16, F16, Int8 };

/// Which runtime the calls go to: the CPU runtime's moe_cc_* entry points
/// (moe_runtime.h; constant weights packed into its panels), or the CUDA
/// runtime's moe_cuda_cc_* ones (moe_runtime_cuda.h; row-major weights,
/// f32, bf16 or f16, uploaded to the device once).
enum class RuntimeTarget { CPU, CUDA };

/// Adds the patterns that turn moe.route, moe.permute, moe.grouped_matmul
/// and moe.combine (f32 data, i32 indices) into runtime calls that run on
/// at most `numThreads` threads (0: all). CUDA takes F32, BF16 and F16
/// storage, the CPU F32, BF16 and Int8.
void populateMoEToRuntimePatterns(RewritePatternSet &patterns,
                                  int32_t numThreads,
                                  WeightStorage storage = WeightStorage::F32,
                                  RuntimeTarget target = RuntimeTarget::CPU);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOETORUNTIME_MOETORUNTIME_H
