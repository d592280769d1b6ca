//===- WidenHalf.cpp - float16/bfloat16 MoE layers computed in f32 --------===//
//
// moe-widen-half (Passes.td): the runtimes' kernels take f32 activations,
// so a 16-bit layer is rebuilt in f32 - constants widened at compile time,
// other operands and the result converted by onnx.cast (which
// --target=cuda turns into CUDA calls like the graph's other elementwise
// ops, keeping a device-resident run on the device).
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

struct MoEWidenHalfPass
    : mlir::moe::impl::MoEWidenHalfPassBase<MoEWidenHalfPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<LayerOp> layers;
    getOperation().walk([&](LayerOp layer) {
      if (isHalfFloat(layer.getType()))
        layers.push_back(layer);
    });
    for (LayerOp layer : layers) {
      OpBuilder b(layer);
      Location loc = layer.getLoc();
      SmallVector<Value> operands;
      for (Value operand : layer->getOperands())
        operands.push_back(isHalfFloat(operand.getType())
                               ? widenToF32(b, loc, operand)
                               : operand);
      OperationState state(loc, layer->getName());
      state.addOperands(operands);
      state.addAttributes(layer->getAttrs());
      state.addTypes(asF32(layer.getType()));
      Operation *wide = b.create(state);
      Value narrowed =
          onnx::CastOp::create(b, loc, layer.getType(), wide->getResult(0));
      layer.replaceAllUsesWith(narrowed);
      layer.erase();
      ++numWidened;
    }
  }
};

} // namespace
