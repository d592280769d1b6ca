//===- MatmulToCuda.cpp - The graph's matmuls to cuBLAS calls -------------===//
//
// Part of convert-elementwise-to-cuda (Passes.td), next to the rest of an
// attention block (AttentionToCuda.cpp): f32 onnx.matmul (ranks 2 to 4,
// batch dims broadcast) and onnx.gemm (its bias becomes an onnx.add, which
// the elementwise patterns take) become moe_cuda_cc_matmul_f32 calls
// (cuBLAS; with 16-bit weight storage, a constant weight in bf16/f16:
// _matmul_bf16w / _f16w, the tensor-core GEMM). What would copy data
// around a matmul is read in place instead:
//   - a scalar constant dividing or multiplying the product (attention's
//     1/sqrt(head_dim)) is the GEMM's alpha;
//   - a transpose of an operand (the heads' [b, t, h, d] -> [b, h, t, d],
//     k^T) is a view the GEMM reads - row strides, batch strides, the
//     matrices read transposed - and a transpose of the result (the
//     heads merged back) one it writes;
//   - grouped-query attention's repeat_kv of b is read as its kv heads,
//     q's heads sharing one a single matrix of the GEMM (checked at run
//     time to be repeat_kv's).
//
//===----------------------------------------------------------------------===//

#include "GraphOpsToCuda.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Whether `value` is an f32 tensor of rank 2 to kMaxCudaRank.
bool isMatmulOperand(Value value) {
  return isF32(value) && rankOf(value) >= 2 && rankOf(value) <= kMaxCudaRank;
}

/// Takes a transpose defining `operand` into its view: `operand` becomes
/// the transpose's input and `perm` (the view's dim i is the buffer's dim
/// perm[i]) composes with the transpose's - when one of the view's last
/// two dims stays the buffer's last, which a GEMM reads in place (a row
/// stride, or the matrices transposed). Weights' transposes are left to
/// moe-fold-weights (at compile time).
void absorbView(Value &operand, SmallVector<int64_t, 4> &perm) {
  auto transpose = operand.getDefiningOp<onnx::TransposeOp>();
  if (!transpose || !isMatmulOperand(transpose.getInput()) ||
      onlyConstants(transpose.getInput()))
    return;
  ArrayRef<int64_t> inner = transpose.getPerm();
  auto rank = static_cast<int64_t>(perm.size());
  SmallVector<int64_t, 4> composed;
  for (int64_t d : perm)
    composed.push_back(inner[d]);
  if (composed[rank - 1] != rank - 1 && composed[rank - 2] != rank - 1)
    return;
  operand = transpose.getInput();
  perm = composed;
}

std::optional<RepeatKvMatch> matchRepeatKv(Value value) {
  auto reshape = value.getDefiningOp<onnx::ReshapeOp>();
  auto expand = reshape ? reshape.getInput().getDefiningOp<onnx::ExpandOp>()
                        : onnx::ExpandOp();
  auto unsqueeze = expand ? expand.getInput().getDefiningOp<onnx::UnsqueezeOp>()
                          : onnx::UnsqueezeOp();
  if (!unsqueeze)
    return std::nullopt;
  Value x = unsqueeze.getInput();
  ArrayRef<int64_t> axes = unsqueeze.getAxes();
  auto shapeType = cast<RankedTensorType>(expand.getShape().getType());
  if (axes.size() != 1 || (axes[0] != 2 && axes[0] != -3) || rankOf(x) != 4 ||
      rankOf(expand.getResult()) != 5 || rankOf(reshape.getResult()) != 4 ||
      shapeType.getShape() != ArrayRef<int64_t>{5} || !isF32(x) ||
      onlyConstants(x))
    return std::nullopt;
  return RepeatKvMatch{x, expand, reshape};
}

/// A matmul as its call reads and writes it: each operand a buffer and
/// the view of it the GEMM reads (operandView); b repeated by repeat_kv
/// read as its kv heads (a's heads grouped by the kv head they share: a
/// stays as it lies, its heads' rows adjacent, and so does the result);
/// the result written through `outTranspose`'s view when that transpose
/// is its one user. transA / transB: Gemm's flags.
struct MatmulOperands {
  OperandView a, b;
  bool transA = false, transB = false;
  onnx::TransposeOp outTranspose;
};

/// Whether a transpose of the last two dims alone (k^T).
bool swapsLastTwo(ArrayRef<int64_t> perm) {
  auto rank = static_cast<int64_t>(perm.size());
  for (int64_t d = 0; d < rank; ++d)
    if (perm[d] != (d < rank - 2 ? d : 2 * rank - 3 - d))
      return false;
  return true;
}

MatmulOperands matmulOperands(Value a, Value b, Value result) {
  MatmulOperands m;
  m.b = rightOperandView(b, rankOf(a));
  if (m.b.kv) {
    m.a = identityView(a);
    return m;
  }
  m.a = operandView(a);
  m.outTranspose = outputTranspose(result);
  return m;
}

/// Entry `i` of a reshape's or expand's target shape, as an index.
Value shapeEntry(ImplicitLocOpBuilder &b, Value shape,
                 std::optional<ArrayRef<int64_t>> attr, int64_t i) {
  if (attr)
    return arith::ConstantIndexOp::create(b, (*attr)[i]);
  Value entry = tensor::ExtractOp::create(
      b, shape, ValueRange{arith::ConstantIndexOp::create(b, i)});
  return arith::IndexCastOp::create(b, b.getIndexType(), entry);
}

/// The dims of a grouped-query matmul's call: with x [b, kv, t, d] the kv
/// heads and a [b, kv * n, m, k], a's heads sharing a kv head are rows of
/// one matrix (a is row-major: they are adjacent), so the product is the
/// batched [b, kv, n * m, k] . [b, kv, t, d] (x's view: transposed for
/// the scores) - no copy of x per head, the result [b, kv * n, m, cols] as
/// it lies, seen as [b, kv, n * m, cols]. Checks at run time that the
/// repeat is repeat_kv's.
struct GroupedDims {
  SmallVector<Value> a, out, result;
};

GroupedDims groupedDims(RuntimeCall &call, Operation *matmul,
                        const MatmulOperands &m, ArrayRef<Value> a,
                        ArrayRef<Value> bBuffer) {
  ImplicitLocOpBuilder &b = call.builder();
  // x's dims as repeat_kv saw them ([b, kv, t, d]: the buffer's dims
  // through the view, less the k^T swap).
  SmallVector<Value> view = viewDims(bBuffer, m.b.perm), kvDims(view);
  if (m.b.kvTransposed)
    std::swap(kvDims[2], kvDims[3]);
  Value repeats;
  Value ok = repeatKvHolds(call, *m.b.kv, kvDims, a[1], repeats);
  emitRunTimeCheck(b, matmul, ok,
                   describeGraphOp(matmul, "grouped-query attention: its "
                                           "repeated k/v heads must be "
                                           "repeat_kv's"));
  Value isOne =
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, a[0], call.index(1));
  Value batch = arith::SelectOp::create(b, isOne, view[0], a[0]);
  Value rows = arith::MulIOp::create(b, repeats, a[2]);
  GroupedDims dims;
  // When the check fails the call must not run either (a's heads seen as
  // kv * n of them could read past its buffer): a's dim -1, which the
  // runtime refuses before touching memory.
  Value kvHeads = arith::SelectOp::create(b, ok, kvDims[1], call.index(-1));
  dims.a = {a[0], kvHeads, rows, a[3]};
  dims.out = {batch, kvDims[1], rows, view[3]};
  dims.result = {batch, a[1], a[2], view[3]};
  return dims;
}

/// Replaces `op` (`matmul`, or the op scaling it by alpha) by one
/// moe_cuda_cc_matmul_* call computing alpha * op(a) . op(b) (numpy
/// matmul) as `m` reads it - or, with m.outTranspose, the transpose it
/// writes in place instead. A failure names `matmul` (the ONNX node the
/// user knows). A constant b is stored in `storage` when that is 16-bit
/// (f16: if its values fit).
/// How many projections (matmuls of `a` by weights) read `a`.
int64_t projectionsOf(Value a) {
  return llvm::count_if(a.getUsers(), [&](Operation *user) {
    auto matmul = dyn_cast<onnx::MatMulOp>(user);
    return matmul && matmul.getLhs() == a && onlyConstants(matmul.getRhs());
  });
}

/// `a` rounded to 16 bits (f16, else bf16) once for all the projections
/// that read it (`matmul`: the first): one moe_cuda_cc_cast call after its
/// definition, remembered - a call's result, which later rewrites leave in
/// place (an onnx.cast would be replaced by its own call).
Value roundedOnce(PatternRewriter &rewriter, const MatmulWeights &weights,
                  Operation *matmul, int32_t numThreads, Value a, bool f16) {
  Value &rounded = (*weights.rounded)[a];
  if (rounded)
    return rounded;
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointAfterValue(a);
  RuntimeCall call(rewriter, matmul, numThreads, RuntimeTarget::CUDA);
  SmallVector<Value> sizes = dimSizes(call, a);
  call.addI32(f16 ? MOE_CUDA_CAST_F32_TO_F16 : MOE_CUDA_CAST_F32_TO_BF16);
  call.addInput(a);
  call.addI64(product(call, sizes));
  auto type = cast<RankedTensorType>(a.getType());
  call.addOutput(RankedTensorType::get(type.getShape(),
                                       f16 ? Type(rewriter.getF16Type())
                                           : Type(rewriter.getBF16Type())),
                 sizes);
  rounded = call.emit("moe_cc_cast",
                      describeGraphOp(matmul, "its activations rounded to "
                                              "its weights' 16 bits"))
                .front();
  return rounded;
}

void replaceByMatmul(PatternRewriter &rewriter, Operation *op,
                     Operation *matmul, int32_t numThreads, MatmulOperands m,
                     double alpha, const MatmulWeights &weights) {
  StringRef callee = "moe_cc_matmul_f32";
  WeightStorage storage = weights.storage;
  if ((storage == WeightStorage::BF16 ||
       (storage == WeightStorage::F16 && fitsF16(m.b.buffer))) &&
      !onlyConstants(m.a.buffer))
    if (Value narrow =
            rowMajor16(rewriter, op->getLoc(), m.b.buffer, storage)) {
      bool f16 = storage == WeightStorage::F16;
      m.b.buffer = narrow;
      callee = f16 ? "moe_cc_matmul_f16w" : "moe_cc_matmul_bf16w";
      // Activations other projections read too (q, k and v's): rounded by
      // one cast their calls share, not by each call.
      if (weights.rounded->count(m.a.buffer) || projectionsOf(m.a.buffer) > 1) {
        m.a.buffer =
            roundedOnce(rewriter, weights, matmul, numThreads, m.a.buffer, f16);
        callee = f16 ? "moe_cc_matmul_f16" : "moe_cc_matmul_bf16";
      }
    }
  Value result = op->getResult(0);
  auto type = cast<RankedTensorType>(result.getType());
  int64_t rank = type.getRank();
  RuntimeCall call(rewriter, op, numThreads, RuntimeTarget::CUDA);
  // The buffers' dims, read once: the views' come from them.
  SmallVector<Value> aBuffer = dimSizes(call, m.a.buffer),
                     bBuffer = dimSizes(call, m.b.buffer);
  std::optional<GroupedDims> grouped;
  if (m.b.kv)
    grouped = groupedDims(call, matmul, m, aBuffer, bBuffer);
  call.addI32(m.transA);
  call.addI32(m.transB);
  call.addF32(alpha);
  preloadIfConstant(rewriter, op, m.a.buffer, numThreads);
  call.addInput(m.a.buffer);
  addView(call, grouped ? grouped->a : aBuffer,
          grouped ? ArrayRef<int64_t>(identityPerm(4)) : ArrayRef(m.a.perm));
  preloadIfConstant(rewriter, op, m.b.buffer, numThreads);
  call.addInput(m.b.buffer);
  addView(call, bBuffer, m.b.perm);
  if (grouped) {
    addView(call, grouped->out, identityPerm(4));
    call.addOutput(result, grouped->result);
  } else {
    // The result: batch dims broadcast, then a's rows and b's columns.
    SmallVector<Value> a = viewDims(aBuffer, m.a.perm),
                       b = viewDims(bBuffer, m.b.perm);
    int64_t aRank = a.size(), bRank = b.size();
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < rank - 2; ++d) {
      if (!type.isDynamicDim(d)) {
        sizes.push_back(call.index(type.getDimSize(d)));
        continue;
      }
      // numpy's broadcast: the dim that is not a 1 (an absent or static 1
      // never is the result's; a run-time one gives way to the other's).
      int64_t i = d - (rank - aRank), j = d - (rank - bRank);
      Value aDim = i >= 0 ? a[i] : Value(), bDim = j >= 0 ? b[j] : Value();
      auto staticOne = [](Value v) { return getConstantIntValue(v) == 1; };
      if (!bDim || staticOne(bDim)) {
        sizes.push_back(aDim ? aDim : call.index(1));
        continue;
      }
      if (!aDim || staticOne(aDim)) {
        sizes.push_back(bDim);
        continue;
      }
      ImplicitLocOpBuilder &builder = call.builder();
      Value isOne = arith::CmpIOp::create(builder, arith::CmpIPredicate::eq,
                                          aDim, call.index(1));
      sizes.push_back(arith::SelectOp::create(builder, isOne, bDim, aDim));
    }
    sizes.push_back(m.transA ? a[aRank - 1] : a[aRank - 2]);
    sizes.push_back(m.transB ? b[bRank - 2] : b[bRank - 1]);
    addResultView(call, result, sizes, m.outTranspose);
  }
  Value product =
      call.emit(callee,
                describeGraphOp(matmul, "its operands' shapes must multiply"))
          .front();
  if (m.outTranspose) {
    rewriter.replaceOp(m.outTranspose, product);
    rewriter.eraseOp(op);
  } else {
    rewriter.replaceOp(op, product);
  }
}

/// Whether a matmul of `a` and `b` into `result` can be a call: f32, ranks
/// 2 to 4, not of weights alone (a product of constants stays host code).
bool callableMatmul(Value a, Value b, Value result) {
  return isMatmulOperand(a) && isMatmulOperand(b) && isMatmulOperand(result) &&
         !(onlyConstants(a) && onlyConstants(b));
}

/// A pattern that emits matmuls: it knows how constant weights are stored.
template <typename OpTy> struct MatmulPattern : RuntimePattern<OpTy> {
  MatmulPattern(MLIRContext *context, int32_t numThreads,
                const MatmulWeights &weights)
      : RuntimePattern<OpTy>(context, numThreads, RuntimeTarget::CUDA),
        weights(weights) {}
  MatmulWeights weights;
};

/// Whether `product`'s one user scales it by a scalar constant (a
/// ScaledMatMulToCuda match).
bool scaledByConstant(Value product) {
  if (!product.hasOneUse())
    return false;
  Operation *user = *product.getUsers().begin();
  if (isa<onnx::DivOp>(user))
    return user->getOperand(0) == product &&
           scalarConstant(user->getOperand(1));
  return isa<onnx::MulOp>(user) &&
         scalarConstant(user->getOperand(user->getOperand(0) == product));
}

/// A matmul. In the first phase (`fusedOnly`) only those whose operands
/// or result are transposes or repeat_kv's - while those ops are whole,
/// before they become calls of their own - and not those a scalar scales
/// (ScaledMatMulToCuda's).
struct MatMulToCuda : MatmulPattern<onnx::MatMulOp> {
  MatMulToCuda(MLIRContext *context, int32_t numThreads,
               const MatmulWeights &weights, bool fusedOnly)
      : MatmulPattern(context, numThreads, weights), fusedOnly(fusedOnly) {}
  bool fusedOnly;

  LogicalResult matchAndRewrite(onnx::MatMulOp op,
                                PatternRewriter &rewriter) const override {
    if (!callableMatmul(op.getLhs(), op.getRhs(), op.getResult()))
      return rewriter.notifyMatchFailure(op, "needs f32 of rank 2 to 4");
    MatmulOperands m = matmulOperands(op.getLhs(), op.getRhs(), op.getResult());
    if (fusedOnly && (scaledByConstant(op.getResult()) ||
                      (!m.b.kv && !m.outTranspose &&
                       m.a.buffer == op.getLhs() && m.b.buffer == op.getRhs())))
      return rewriter.notifyMatchFailure(op, "nothing to read in place");
    replaceByMatmul(rewriter, op, op, numThreads, m, 1.0, weights);
    return success();
  }
};

/// matmul(a, b) / c or matmul(a, b) * c (either order) for a scalar
/// constant c: one call with alpha = 1 / c or c.
template <typename OpTy> struct ScaledMatMulToCuda : MatmulPattern<OpTy> {
  using MatmulPattern<OpTy>::MatmulPattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    constexpr bool isDiv = std::is_same_v<OpTy, onnx::DivOp>;
    SmallVector<std::pair<Value, Value>, 2> orders = {
        {op.getLhs(), op.getRhs()}};
    if (!isDiv)
      orders.push_back({op.getRhs(), op.getLhs()});
    for (auto [product, scale] : orders) {
      auto matmul = product.template getDefiningOp<onnx::MatMulOp>();
      std::optional<double> c = scalarConstant(scale);
      if (!matmul || !c || !product.hasOneUse() ||
          op.getType() != matmul.getType() || (isDiv && *c == 0.0) ||
          !callableMatmul(matmul.getLhs(), matmul.getRhs(), product))
        continue;
      replaceByMatmul(
          rewriter, op, matmul, this->numThreads,
          matmulOperands(matmul.getLhs(), matmul.getRhs(), op.getResult()),
          isDiv ? 1.0 / *c : *c, this->weights);
      rewriter.eraseOp(matmul);
      return success();
    }
    return rewriter.notifyMatchFailure(op, "not a matmul times a scalar");
  }
};

/// Gemm: alpha * op(a) . op(b), its bias c (beta 1) added by an onnx.add.
struct GemmToCuda : MatmulPattern<onnx::GemmOp> {
  using MatmulPattern::MatmulPattern;

  LogicalResult matchAndRewrite(onnx::GemmOp op,
                                PatternRewriter &rewriter) const override {
    Value c = op.getC();
    if (!callableMatmul(op.getA(), op.getB(), op.getResult()) ||
        (c && (!isF32(c) || op.getBeta().convertToDouble() != 1.0)))
      return rewriter.notifyMatchFailure(op, "needs f32, beta 1");
    MatmulOperands m;
    m.a = identityView(op.getA());
    m.b = identityView(op.getB());
    m.transA = op.getTransA();
    m.transB = op.getTransB();
    if (c) {
      // The bias added after the call (the add's own pattern takes it).
      rewriter.setInsertionPointAfter(op);
      auto add = onnx::AddOp::create(rewriter, op.getLoc(), op.getType(),
                                     op.getResult(), c);
      rewriter.replaceAllUsesExcept(op.getResult(), add.getResult(), add);
      rewriter.setInsertionPoint(op);
    }
    replaceByMatmul(rewriter, op, op, numThreads, m,
                    op.getAlpha().convertToDouble(), weights);
    return success();
  }
};

} // namespace

OperandView mlir::moe::operandView(Value a) {
  OperandView view = identityView(a);
  absorbView(view.buffer, view.perm);
  return view;
}

OperandView mlir::moe::rightOperandView(Value b, int64_t aRank) {
  // repeat_kv's heads, maybe transposed (k^T).
  Value repeated = b;
  SmallVector<int64_t, 4> outer = identityPerm(rankOf(b));
  if (auto transpose = b.getDefiningOp<onnx::TransposeOp>();
      transpose && swapsLastTwo(transpose.getPerm())) {
    repeated = transpose.getInput();
    outer = llvm::to_vector<4>(transpose.getPerm());
  }
  if (aRank == 4)
    if (std::optional<RepeatKvMatch> kv = matchRepeatKv(repeated)) {
      OperandView view;
      view.buffer = kv->x;
      view.perm = outer;
      view.kv = kv;
      view.kvTransposed = repeated != b;
      absorbView(view.buffer, view.perm);
      return view;
    }
  return operandView(b);
}

onnx::TransposeOp mlir::moe::outputTranspose(Value result) {
  if (!result.hasOneUse())
    return {};
  auto transpose = dyn_cast<onnx::TransposeOp>(*result.getUsers().begin());
  if (!transpose || rankOf(result) > kMaxCudaRank)
    return {};
  ArrayRef<int64_t> perm = transpose.getPerm();
  return perm.back() == static_cast<int64_t>(perm.size()) - 1
             ? transpose
             : onnx::TransposeOp();
}

SmallVector<Value> mlir::moe::viewDims(ArrayRef<Value> dims,
                                       ArrayRef<int64_t> perm) {
  SmallVector<Value> view;
  for (int64_t d : perm)
    view.push_back(dims[d]);
  return view;
}

Type mlir::moe::roundedType(WeightStorage storage, MLIRContext *context) {
  Builder b(context);
  return storage == WeightStorage::BF16  ? Type(b.getBF16Type())
         : storage == WeightStorage::F16 ? Type(b.getF16Type())
                                         : Type();
}

int32_t mlir::moe::cudaElementType(Type element) {
  return !element           ? MOE_CUDA_ELEMENT_F32
         : element.isBF16() ? MOE_CUDA_ELEMENT_BF16
         : element.isF16()  ? MOE_CUDA_ELEMENT_F16
                            : MOE_CUDA_ELEMENT_F32;
}

Type mlir::moe::roundedByReaders(Value value, const MatmulWeights &weights) {
  Type rounded = roundedType(weights.storage, value.getContext());
  if (!rounded || value.use_empty())
    return {};
  for (Operation *user : value.getUsers()) {
    if (isa<onnx::ShapeOp>(user)) // (reads the rounded tensor's shape)
      continue;
    auto matmul = dyn_cast<onnx::MatMulOp>(user);
    if (!matmul || matmul.getLhs() != value || matmul.getRhs() == value ||
        !matchPattern(matmul.getRhs(), m_Constant()) ||
        (rounded.isF16() && !fitsF16(matmul.getRhs())))
      return {};
  }
  return rounded;
}

Value mlir::moe::roundedForReaders(PatternRewriter &rewriter,
                                   const MatmulWeights &weights, Value value,
                                   Value rounded) {
  for (OpOperand &use : llvm::make_early_inc_range(value.getUses()))
    if (isa<onnx::ShapeOp>(use.getOwner()))
      rewriter.modifyOpInPlace(use.getOwner(), [&] { use.set(rounded); });
  // The projections find the rounded values under the f32 value they read
  // (roundedOnce): a widening cast, which the last phase converts only if
  // anything else still reads it.
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointAfterValue(rounded);
  Value widened = onnx::CastOp::create(rewriter, rounded.getLoc(),
                                       value.getType(), rounded);
  (*weights.rounded)[widened] = rounded;
  return widened;
}

void mlir::moe::addView(RuntimeCall &call, ArrayRef<Value> dims,
                        ArrayRef<int64_t> perm) {
  addRankAndDims(call, dims);
  for (int64_t d = 0; d < kMaxCudaRank; ++d)
    call.addI64(d < static_cast<int64_t>(perm.size()) ? perm[d] : 0);
}

void mlir::moe::addResultView(RuntimeCall &call, Value result,
                              ArrayRef<Value> sizes,
                              onnx::TransposeOp transpose, Type element) {
  auto output = [&](Value value, ArrayRef<Value> dims) {
    auto type = cast<RankedTensorType>(value.getType());
    call.addOutput(element ? type.clone(element) : type, dims);
  };
  if (!transpose) {
    addView(call, sizes, identityPerm(sizes.size()));
    output(result, sizes);
    return;
  }
  // The transpose's buffer: its dim i is the result's perm[i]; the result
  // is its view through the inverse permutation.
  ArrayRef<int64_t> perm = transpose.getPerm();
  SmallVector<Value> buffer;
  SmallVector<int64_t, 4> inverse(sizes.size());
  for (auto [i, d] : llvm::enumerate(perm)) {
    buffer.push_back(sizes[d]);
    inverse[d] = i;
  }
  addView(call, buffer, inverse);
  output(transpose.getResult(), buffer);
}

Value mlir::moe::repeatKvHolds(RuntimeCall &call, const RepeatKvMatch &kv,
                               ArrayRef<Value> kvDims, Value heads,
                               Value &repeats) {
  ImplicitLocOpBuilder &b = call.builder();
  auto eq = [&](Value lhs, Value rhs) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lhs, rhs);
  };
  auto mul = [&](Value lhs, Value rhs) {
    return arith::MulIOp::create(b, lhs, rhs).getResult();
  };
  Value one = call.index(1);
  // The repeat count, the expand's entry for the new axis (x's dim 1
  // there); the expand must keep x's other dims (entries 1 or x's) and
  // the reshape must merge kv and n (entries -1, x's, or 0 copying one)
  // and the other operand's heads must be the kv * n it yields: what
  // repeat_kv writes.
  RepeatKvMatch match = kv; // (its ops' accessors are not const)
  Value shape = match.expand.getShape();
  repeats =
      arith::MaxUIOp::create(b, shapeEntry(b, shape, std::nullopt, 2), one);
  Value ok = eq(heads, mul(kvDims[1], repeats));
  for (auto [entry, dim] :
       {std::pair(0, 0), std::pair(1, 1), std::pair(3, 2), std::pair(4, 3)}) {
    Value e = shapeEntry(b, shape, std::nullopt, entry);
    ok = arith::AndIOp::create(
        b, ok, arith::OrIOp::create(b, eq(e, one), eq(e, kvDims[dim])));
  }
  onnx::ReshapeOp reshape = match.reshape;
  SmallVector<Value> expanded = {kvDims[0], kvDims[1], repeats, kvDims[2],
                                 kvDims[3]};
  SmallVector<Value> merged = {kvDims[0], mul(kvDims[1], repeats), kvDims[2],
                               kvDims[3]};
  for (int64_t i = 0; i < 4; ++i) {
    Value e = shapeEntry(b, reshape.getShapeTensor(), reshape.getShape(), i);
    Value resolved =
        arith::SelectOp::create(b, eq(e, call.index(0)), expanded[i], e);
    ok = arith::AndIOp::create(b, ok,
                               arith::OrIOp::create(b, eq(e, call.index(-1)),
                                                    eq(resolved, merged[i])));
  }
  return ok;
}

void mlir::moe::populateMatmulToCudaPatterns(RewritePatternSet &patterns,
                                             int32_t numThreads,
                                             const MatmulWeights &weights,
                                             bool fusedOnly) {
  MLIRContext *context = patterns.getContext();
  patterns.add<MatMulToCuda>(context, numThreads, weights, fusedOnly);
  if (fusedOnly)
    patterns
        .add<ScaledMatMulToCuda<onnx::DivOp>, ScaledMatMulToCuda<onnx::MulOp>>(
            context, numThreads, weights);
  else
    patterns.add<GemmToCuda>(context, numThreads, weights);
}
