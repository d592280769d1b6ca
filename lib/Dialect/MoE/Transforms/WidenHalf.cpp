//===- WidenHalf.cpp - float16/bfloat16 layers and graph ops in f32 -------===//
//
// moe-widen-half (Passes.td): the runtimes' kernels take f32 activations,
// so a 16-bit layer is rebuilt in f32 - constants widened at compile time,
// other operands and the result converted by onnx.cast (which
// --target=cuda turns into CUDA calls like the graph's other elementwise
// ops, keeping a device-resident run on the device). With `graph`
// (--target=cuda) the graph ops the CUDA runtime computes are rebuilt the
// same way (but for concats the graph returns: a 16-bit KV cache stays
// 16-bit), and the 16-bit round trips between rebuilt ops dropped.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Dialect/MoE/Transforms/ConstantData.h"
#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Matchers.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEWIDENHALFPASS
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

RankedTensorType asF32(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return RankedTensorType::get(tensor.getShape(),
                               Float32Type::get(type.getContext()));
}

/// The graph ops --target=cuda computes in f32 (convert-elementwise-to-
/// cuda), the views between them and shape reads.
bool isWidenableGraphOp(Operation *op) {
  return isa<onnx::AddOp, onnx::SubOp, onnx::MulOp, onnx::DivOp, onnx::PowOp,
             onnx::MaxOp, onnx::MinOp, onnx::NegOp, onnx::SqrtOp, onnx::ExpOp,
             onnx::TanhOp, onnx::SigmoidOp, onnx::ReluOp, onnx::ErfOp,
             onnx::CosOp, onnx::SinOp, onnx::SliceOp, onnx::ConcatOp,
             onnx::ExpandOp, onnx::ReduceMeanOp, onnx::SoftmaxOp,
             onnx::TransposeOp, onnx::MatMulOp, onnx::GemmOp, onnx::TriluOp,
             onnx::ConstantOfShapeOp, onnx::ReshapeOp, onnx::UnsqueezeOp,
             onnx::SqueezeOp, onnx::FlattenOp, onnx::ShapeOp>(op);
}

/// A concat the graph returns (a KV cache's present keys or values): it
/// stays in its 16-bit type - data movement needs no f32 - so the cache
/// stays 16-bit end to end: its input as it is, the new tokens rounded to
/// it as they are copied (what the 16-bit model does), the attention
/// reading it through a widening cast it looks through
/// (convert-elementwise-to-cuda). Widened, it would be a cast of the
/// whole cache in, an f32 concat and a cast of it out.
bool isReturnedConcat(Operation *op) {
  return isa<onnx::ConcatOp>(op) &&
         llvm::any_of(op->getUsers(), [](Operation *user) {
           return isa<func::ReturnOp>(user);
         });
}

/// Rebuilds ops (layers, graph ops) with their 16-bit float operands and
/// results in f32 (a constant_of_shape's fill value too), their results
/// cast back. Each 16-bit value is widened once, where it is defined,
/// whatever the number of widened ops that read it (patterns that follow
/// match operands by identity: an RMS norm's x).
class Widener {
public:
  void widen(Operation *op) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    SmallVector<Value> operands;
    for (Value operand : op->getOperands())
      operands.push_back(isHalfFloat(operand.getType()) ? widened(operand)
                                                        : operand);
    OperationState state(loc, op->getName());
    state.addOperands(operands);
    state.addAttributes(op->getAttrs());
    for (Type type : op->getResultTypes())
      state.addTypes(isHalfFloat(type) ? Type(asF32(type)) : type);
    if (auto fill = dyn_cast<onnx::ConstantOfShapeOp>(op))
      if (auto value = dyn_cast<FloatAttr>(fill.getValue()))
        state.attributes.set(
            "value", b.getF32FloatAttr(value.getValue().convertToFloat()));
    Operation *wide = b.create(state);
    for (auto [narrow, result] :
         llvm::zip_equal(op->getResults(), wide->getResults())) {
      Value replacement = result;
      if (narrow.getType() != result.getType()) {
        replacement = onnx::CastOp::create(b, loc, narrow.getType(), result);
        casts.insert(replacement.getDefiningOp());
      }
      narrow.replaceAllUsesWith(replacement);
    }
    op->erase();
  }

  /// Drops the 16-bit round trips the widening made: cast(f32 <- 16-bit)
  /// of cast(16-bit <- f32)(v) is v when either cast is the pass's (one
  /// the model wrote both halves of - rounding on purpose - stays); shapes
  /// are read from before casts.
  void dropRoundTrips(func::FuncOp func) {
    SmallVector<onnx::CastOp> all;
    func.walk([&](onnx::CastOp cast) { all.push_back(cast); });
    for (onnx::CastOp cast : all) {
      auto narrowing = cast.getInput().getDefiningOp<onnx::CastOp>();
      if (!narrowing || !isHalfFloat(cast.getInput().getType()) ||
          cast.getType() != narrowing.getInput().getType() ||
          !getElementTypeOrSelf(cast.getType()).isF32() ||
          !(casts.contains(cast) || casts.contains(narrowing)))
        continue;
      cast.replaceAllUsesWith(narrowing.getInput());
    }
    // Shapes read before the casts (a cast keeps the shape): a cast of a
    // whole KV cache is not kept alive for its length.
    func.walk([&](onnx::ShapeOp shape) {
      while (auto cast = shape.getInput().getDefiningOp<onnx::CastOp>())
        shape.getInputMutable().assign(cast.getInput());
    });
    // Then the casts left unused (both halves of each round trip).
    for (onnx::CastOp cast : llvm::reverse(all))
      if (cast->use_empty())
        cast.erase();
  }

private:
  Value widened(Value value) {
    auto [it, inserted] = cache.try_emplace(value);
    if (!inserted)
      return it->second;
    OpBuilder b(value.getContext());
    if (Operation *def = value.getDefiningOp()) {
      b.setInsertionPointAfter(def);
    } else {
      // Arguments in order at the top of their block.
      Block *block = cast<BlockArgument>(value).getOwner();
      if (Operation *last = lastArgumentCast.lookup(block))
        b.setInsertionPointAfter(last);
      else
        b.setInsertionPointToStart(block);
    }
    Value wide = widenToF32(b, value.getLoc(), value);
    if (auto cast = wide.getDefiningOp<onnx::CastOp>()) {
      casts.insert(cast);
      if (!value.getDefiningOp())
        lastArgumentCast[cast->getBlock()] = cast;
    }
    return it->second = wide;
  }

  DenseMap<Value, Value> cache;
  DenseMap<Block *, Operation *> lastArgumentCast;
  llvm::SmallPtrSet<Operation *, 32> casts;
};

struct MoEWidenHalfPass
    : mlir::moe::impl::MoEWidenHalfPassBase<MoEWidenHalfPass> {
  using Base::Base;

  void runOnOperation() override {
    // Layers and (graph) the graph ops around them, in program order:
    // each operand widened once, after its definition.
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      bool half = llvm::any_of(op->getOperandTypes(), isHalfFloat) ||
                  llvm::any_of(op->getResultTypes(), isHalfFloat);
      if (isa<LayerOp>(op) ? isHalfFloat(op->getResult(0).getType())
                           : graph && half && isWidenableGraphOp(op) &&
                                 !isReturnedConcat(op))
        ops.push_back(op);
    });
    Widener widener;
    for (Operation *op : ops) {
      if (isa<LayerOp>(op))
        ++numWidened;
      else
        ++numGraphOps;
      widener.widen(op);
    }
    widener.dropRoundTrips(getOperation());
  }
};

} // namespace
