//===- GraphOpsToCuda.h - Helpers of the graph-op patterns ------*- C++ -*-===//
//
// Private to lib/Conversion/MoEToRuntime: helpers of convert-elementwise-to-
// cuda's patterns (ElementwiseToCuda.cpp: elementwise ops, means, the RMS
// norm; MatmulToCuda.cpp: matmuls; AttentionToCuda.cpp: softmax, transposes;
// DataMovementToCuda.cpp: slices, concats, expands, ranges).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_CONVERSION_MOETORUNTIME_GRAPHOPSTOCUDA_H
#define MOE_LIB_CONVERSION_MOETORUNTIME_GRAPHOPSTOCUDA_H

#include "RuntimeCall.h"

#include "moe_runtime_cuda.h"

#include <memory>
#include <optional>

namespace mlir::moe {

constexpr int64_t kMaxCudaRank = MOE_CUDA_MAX_ELEMENTWISE_RANK;

/// How a failed call names its op: the op, its ONNX node, what it needs.
std::string describeGraphOp(Operation *op, StringRef needs);

/// The rank of a ranked tensor value.
inline int64_t rankOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getRank();
}

/// The identity permutation of `rank` dims (a buffer read as it lies).
inline SmallVector<int64_t, 4> identityPerm(int64_t rank) {
  return llvm::to_vector<4>(llvm::seq<int64_t>(0, rank));
}

/// The sizes of `tensor`'s dims (static ones as constants).
SmallVector<Value> dimSizes(RuntimeCall &call, Value tensor);

/// The product of `sizes`.
Value product(RuntimeCall &call, ArrayRef<Value> sizes);

/// Passes a rank and its dims (`sizes`), padded with 1s to kMaxCudaRank:
/// how the entry points take shapes.
void addRankAndDims(RuntimeCall &call, ArrayRef<Value> sizes);

/// numpy's broadcast size of dim `d` of `rank` aligned dims, from
/// `operands`' first `operandRanks` dims (aligned at the back): the
/// operands' aligned dim that is not a 1 (a static 1 never is the result's;
/// a run-time one gives way to the other operand's, even a 0).
Value broadcastSize(RuntimeCall &call, ArrayRef<Value> operands,
                    ArrayRef<int64_t> operandRanks, int64_t rank, int64_t d);

/// Whether `value` is computed from constants alone (a model's weights,
/// moved by the importer's transposes and slices): moe-fold-weights
/// computes those at compile time.
bool onlyConstants(Value value);

/// The value of a one-element float constant.
std::optional<double> scalarConstant(Value value);

/// How the graph's matmuls store constant weights (F32, BF16, F16), and
/// the activations rounded to that 16-bit type so far: matmuls reading the
/// same activations with 16-bit weights (q, k and v's projections) share
/// one cast. One per pass run, shared by its phases.
struct MatmulWeights {
  WeightStorage storage = WeightStorage::F32;
  std::shared_ptr<llvm::DenseMap<Value, Value>> rounded =
      std::make_shared<llvm::DenseMap<Value, Value>>();
};

/// The attention ops' patterns (AttentionToCuda.cpp): first the fusions,
/// while their ops are whole (before the elementwise patterns take them
/// apart): the matmuls that read or write others in place, a softmax of
/// scores plus a causal mask (the mask never built), rotary embeddings;
/// then matmuls, Gemm, softmax, transposes, data movement.
void populateFusedAttentionToCudaPatterns(RewritePatternSet &patterns,
                                          int32_t numThreads,
                                          const MatmulWeights &weights);
void populateAttentionToCudaPatterns(RewritePatternSet &patterns,
                                     int32_t numThreads,
                                     const MatmulWeights &weights);

/// The graph's matmuls (MatmulToCuda.cpp): with `fusedOnly` (the first
/// phase) those that read transposes or repeat_kv's heads in place, write
/// a transpose in place, or fold a scalar scale into alpha - while those
/// ops are whole; else every f32 matmul and Gemm.
void populateMatmulToCudaPatterns(RewritePatternSet &patterns,
                                  int32_t numThreads,
                                  const MatmulWeights &weights, bool fusedOnly);

/// Rotary embeddings' and grouped-query attention's data movement
/// (DataMovementToCuda.cpp): first the rotary embedding fused (one call
/// for x * cos + rotate_half(x) * sin), then slice, concat, expand, f32
/// range, outer products (added by populateAttentionToCudaPatterns).
void populateFusedDataMovementToCudaPatterns(RewritePatternSet &patterns,
                                             int32_t numThreads);
void populateDataMovementToCudaPatterns(RewritePatternSet &patterns,
                                        int32_t numThreads);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETORUNTIME_GRAPHOPSTOCUDA_H
