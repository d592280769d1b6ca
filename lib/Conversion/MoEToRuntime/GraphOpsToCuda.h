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

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

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

/// Whether `value` is an f32 scalar (one element) the host computes from
/// constants and shapes alone (an attention scale from q's shape) - never
/// from a graph input's data or a CUDA call's result, which could live on
/// the device. Host work: no CUDA call computes one.
bool isHostScalar(Value value);

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

/// Grouped-query attention's repeat_kv as HF writes it: x [b, kv, t, d]
/// unsqueezed at axis 2, expanded to [b, kv, n, t, d] and reshaped to
/// [b, kv * n, t, d] - head h of the result is x's head h / n.
struct RepeatKvMatch {
  Value x;
  onnx::ExpandOp expand;
  onnx::ReshapeOp reshape;
};

/// A matmul operand as a call reads it: a buffer and the view of it (the
/// view's dim i is the buffer's dim perm[i]) - a transpose read in place;
/// for a right operand repeated by repeat_kv, its kv heads (`kv`; the
/// view is of x, or of x^T when `kvTransposed`: k^T of the repeat).
struct OperandView {
  Value buffer;
  SmallVector<int64_t, 4> perm;
  std::optional<RepeatKvMatch> kv;
  bool kvTransposed = false;
};

/// `value` read as it lies.
inline OperandView identityView(Value value) {
  OperandView view;
  view.buffer = value;
  view.perm = identityPerm(rankOf(value));
  return view;
}

/// `a` as a matmul reads it: the transpose defining it, if any, as a view
/// (when the GEMM can read it in place: one of the view's last two dims
/// stays the buffer's last); weights' transposes are left to
/// moe-fold-weights.
OperandView operandView(Value a);

/// `b` as the right operand of a matmul whose left has rank `aRank`:
/// repeat_kv's kv heads (maybe transposed: k^T) read in place when a is
/// of rank 4, else operandView(b).
OperandView rightOperandView(Value b, int64_t aRank);

/// The transpose `result`'s one user applies, when a call can write it in
/// place (the result's columns stay its buffer's rows); else null.
onnx::TransposeOp outputTranspose(Value result);

/// The dims of a view (perm) of a buffer of `dims`.
SmallVector<Value> viewDims(ArrayRef<Value> dims, ArrayRef<int64_t> perm);

/// Passes a view: its buffer's rank and dims (padded), then the perm.
void addView(RuntimeCall &call, ArrayRef<Value> dims, ArrayRef<int64_t> perm);

/// The 16-bit type (bf16, f16) every reader of `value` rounds it to, if
/// they all do: projections (matmuls of it by a constant weight) whose
/// weights are stored in 16 bits (the q, k and v projections after a
/// decoder's input norm, the output projection after the attention;
/// shape reads aside) - the call computing it then writes the rounded
/// values itself, no cast call between.
Type roundedByReaders(Value value, const MatmulWeights &weights);

/// Moves the readers of `value` (that roundedByReaders accepted) onto
/// `rounded`, its 16-bit version: shape reads read it, and the returned
/// f32 value, registered as already rounded, replaces `value` for the
/// projections.
Value roundedForReaders(PatternRewriter &rewriter, const MatmulWeights &weights,
                        Value value, Value rounded);

/// The MOE_CUDA_ELEMENT_* type of `element` (f32, bf16, f16; null: f32).
int32_t cudaElementType(Type element);

/// The element type 16-bit weight storage rounds activations to (bf16,
/// f16), or null.
Type roundedType(WeightStorage storage, MLIRContext *context);

/// Passes the view a call writes its result (of `sizes`) through and
/// allocates its buffer: `result` as it lies, or - with `transpose`, the
/// result's one user - the transpose's buffer, written in place; of
/// `element` type when given (a 16-bit result), else the result's.
void addResultView(RuntimeCall &call, Value result, ArrayRef<Value> sizes,
                   onnx::TransposeOp transpose, Type element = {});

/// Whether the repeat `kv` of x (dims [b, kv, t, d], as repeat_kv saw
/// them) is repeat_kv's for `heads` heads of the other operand: the expand
/// keeps x's dims but the new axis's, the reshape merges kv and n, and kv *
/// n is `heads` (an i1); `repeats` is set to n.
Value repeatKvHolds(RuntimeCall &call, const RepeatKvMatch &kv,
                    ArrayRef<Value> kvDims, Value heads, Value &repeats);

/// A causal mask added to the scores: Trilu(ConstantOfShape(shape, -inf),
/// upper, k) of rank 2 - what torch exports for
/// `full((t, t), -inf).triu(1)`.
struct CausalMaskMatch {
  Value scores;
  Value shape; // the mask's [rows, cols], an i64 tensor
  Value k;     // the diagonal: an i64 scalar tensor (a KV cache's length + 1
               // with a cache: a run-time value), or null for 0
};

/// `sum` (one use) as scores plus a causal mask, if it is one.
std::optional<CausalMaskMatch> matchCausalMask(Value sum);

/// Passes a causal mask as the softmax and attention calls take it: its
/// diagonal k, then its [rows, cols] (which the call checks).
void addCausalMask(RuntimeCall &call, const CausalMaskMatch &mask);

/// Whether `op` is an f32 softmax over its last axis.
bool isLastAxisF32Softmax(onnx::SoftmaxOp op);

/// softmax(q . k^T [scaled] [+ causal mask]) . v as one call
/// (FusedAttentionToCuda.cpp): applied before the other phases, while the
/// block's ops are whole. 16-bit weights' storage asks for the products
/// in that type (tensor cores), as the matmuls have them, and for the
/// result in it when only projections read it (roundedByReaders).
void populateFusedAttentionPatterns(RewritePatternSet &patterns,
                                    int32_t numThreads,
                                    const MatmulWeights &weights);

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
