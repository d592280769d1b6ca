//===- RaiseMatchers.h - Dataflow matchers of the raising pass --*- C++ -*-===//
//
// Each matcher recognises one piece of an MoE layer in onnx-dialect IR and
// says why when it does not: the combine chain, the tokens one expert
// takes, the expert FFN, its gate weight, and the routing. RaiseMoE.cpp
// puts the pieces together and checks that they agree.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_DIALECT_MOE_TRANSFORMS_RAISEMATCHERS_H
#define MOE_LIB_DIALECT_MOE_TRANSFORMS_RAISEMATCHERS_H

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/IR/Value.h"

#include <string>

namespace mlir::moe::raise {

/// Why the last match failed; matchers set it and return failure.
struct MatchError {
  std::string reason;
  LogicalResult fail(const llvm::Twine &why) {
    reason = why.str();
    return failure();
  }
};

/// Router -> scores -> top-k -> weights.
struct Routing {
  Value hidden;
  ElementsAttr routerWeight;   // [d, E]
  ElementsAttr routerBias;     // E elements ([E] or [1, E]) or null
  ElementsAttr correctionBias; // E elements, sigmoid routing only, or null
  int64_t k;
  bool renormalize;
  RoutingKind kind = RoutingKind::SoftmaxTopK;
  double scale = 1.0;
  int64_t nGroup = 1, topkGroup = 1;
  GroupMask groupMask = GroupMask::NegInf;
};
/// One step of the combine: acc' = acc + scatter(rows of `update` at
/// `token`).
struct CombineStep {
  Value previous;
  Value token;
  Value update;
};
FailureOr<CombineStep> matchCombineStep(Value acc, MatchError &error);
/// One step of an overwrite (Switch): acc' = scatter(acc, rows of `update`
/// at `token`), each expert writing its tokens' rows of a copy of the
/// hidden states.
FailureOr<CombineStep> matchOverwriteStep(Value acc, MatchError &error);
/// One step of a dense mixture: acc' = acc + probs[:, e:e+1] * FFN_e.
struct DenseStep {
  Value previous;
  int64_t expert;
  Value probs; // [T, E]
  Value expertOut;
};
FailureOr<DenseStep> matchDenseStep(Value acc, MatchError &error);
/// The router behind dense softmax probabilities.
FailureOr<Routing> matchDenseRouting(Value probs, MatchError &error);

/// Whether `value` is all zeros (the start of the combine).
bool isZeros(Value value);

/// The tokens (and their top-k slots) one expert takes: NonZero of its row
/// of the one-hot mask of the top-k ids, permuted to [E, k, T] (Mixtral:
/// NonZero gives (slot, token)) or [E, T, k] (DeepSeek-V3: (token, slot)).
struct ExpertTokens {
  int64_t expert;
  Value ids;  // the top-k expert ids [T, k]
  int64_t numExperts;
};
FailureOr<ExpertTokens> matchExpertTokens(Value token, Value slot,
                                          MatchError &error);
/// The tokens of one expert under top-1 argmax routing: NonZero of its
/// column of one_hot(argmax(probs)); `ids` is the argmax [T].
FailureOr<ExpertTokens> matchArgmaxTokens(Value token, MatchError &error);
/// The slot value that pairs with `token` (the other half of its split).
FailureOr<Value> slotOf(Value token, MatchError &error);

/// The FFN applied to the gathered rows of `hidden`.
struct ExpertFFN {
  Value rows;
  ElementsAttr w1, w3, w2; // w3 null for ungated FFNs
  ActivationKind activation;
};
FailureOr<ExpertFFN> matchExpertFFN(Value out, MatchError &error);
/// The FFN whose hidden layer (before the down projection `w2`) is
/// `hidden`.
FailureOr<ExpertFFN> matchExpertHidden(Value hidden, ElementsAttr w2,
                                       MatchError &error);
/// The hidden states the rows were gathered from at `token`.
FailureOr<Value> matchGatheredRows(Value rows, Value token, MatchError &error);

/// The routing weights [T, k] that `gate` gathers at (token, slot).
FailureOr<Value> matchGateWeight(Value gate, Value token, Value slot,
                                 MatchError &error);

FailureOr<Routing> matchRouting(Value weights, Value ids, MatchError &error);
/// Top-1 routing by argmax (Switch): `ids` = argmax(softmax(logits)), the
/// gate `weights` = its max [T, 1].
FailureOr<Routing> matchArgmaxRouting(Value weights, Value ids,
                                      MatchError &error);

/// A shared expert added to the routed sum: `routed + FFN(hidden)`,
/// optionally scaled per token by sigmoid(hidden @ gate) (Qwen2-MoE), or
/// `reshape(routed, shape(x)) + FFN(x)` where hidden = x's rows flattened
/// (DeepSeek-V3 adds the shared experts of the unflattened input).
struct SharedExpert {
  Value sum; // the value that includes the shared expert
  ExpertFFN ffn;
  ElementsAttr gate;         // [d, 1] or null
  onnx::ReshapeOp unflatten; // reshape(routed, shape(x)), or null
};
FailureOr<SharedExpert> matchSharedExpert(Value routed, Value hidden,
                                          MatchError &error);

/// The activation applied to a value: silu as x * sigmoid(x), relu, gelu;
/// returns its kind and input.
std::optional<std::pair<ActivationKind, Value>> matchActivation(Value value);

/// The constant behind `value`, if any.
std::optional<ElementsAttr> constantOf(Value value);
/// An arith.constant of `attr`, or null for a null attribute.
Value constantValue(OpBuilder &builder, Location loc, ElementsAttr attr);
/// The single integer / floating-point element of a constant.
std::optional<int64_t> constantInt(Value value);
std::optional<double> scalarOf(Value value);
/// The values of a small i64 vector computed from constants only (shape
/// arithmetic the exporter leaves in the graph: ConstantOfShape, Mul,
/// Equal, Where, Concat of constants).
std::optional<SmallVector<int64_t>> constantInts(Value value);
/// (x, i) when `value` ([] or [1] i64) is dim i of x read from its shape:
/// gather(shape(x), i), optionally unsqueezed.
std::optional<std::pair<Value, int64_t>> shapeDimRead(Value value);
/// Whether `shape` is the run-time shape of `x`: Shape(x), or a Concat of
/// its dims read one by one.
bool isShapeOf(Value shape, Value x);
/// Looks through reshapes of any kind: only for values whose element order
/// is what matters (a row of weights, a flat index list).
Value skipReshapes(Value value);
/// Looks through casts from one float type to another: a 16-bit model's
/// routing moves between its type and f32 (Hugging Face computes the
/// softmax in f32), and the raised layer computes its routing in f32
/// whatever the casts round to.
Value skipFloatCasts(Value value);
/// matmul(rows, constant [in, out]).
bool matchProjection(Value value, Value &rows, ElementsAttr &weight);

} // namespace mlir::moe::raise

#endif // MOE_LIB_DIALECT_MOE_TRANSFORMS_RAISEMATCHERS_H
