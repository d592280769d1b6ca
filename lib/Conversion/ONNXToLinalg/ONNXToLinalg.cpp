//===- ONNXToLinalg.cpp - The convert-onnx-to-linalg pass -----------------===//

#include "moe/Conversion/ONNXToLinalg/ONNXToLinalg.h"

#include "Patterns.h"

#include "moe/Dialect/ONNX/IR/ONNXOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTONNXTOLINALGPASS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;
using namespace mlir::moe::onnx_lowering;

SmallVector<OpFoldResult> onnx_lowering::mixedSizes(TensorBuilder &tb,
                                                    Value tensor) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0, e = cast<ShapedType>(tensor.getType()).getRank(); d < e;
       ++d)
    sizes.push_back(tb.dim(tensor, d));
  return sizes;
}

AffineMap onnx_lowering::broadcastMap(ShapedType operand,
                                      ShapedType resultType) {
  MLIRContext *context = resultType.getContext();
  int64_t offset = resultType.getRank() - operand.getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0; i < operand.getRank(); ++i) {
    bool stretched = operand.getDimSize(i) == 1 &&
                     resultType.getDimSize(i + offset) != 1;
    exprs.push_back(stretched ? getAffineConstantExpr(0, context)
                              : getAffineDimExpr(i + offset, context));
  }
  return AffineMap::get(resultType.getRank(), 0, exprs, context);
}

namespace {
struct ConvertONNXToLinalgPass
    : moe::impl::ConvertONNXToLinalgPassBase<ConvertONNXToLinalgPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalDialect<onnx::ONNXDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateONNXToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateONNXToLinalgPatterns(RewritePatternSet &patterns) {
  populateElementwisePatterns(patterns);
  populateLinearAlgebraPatterns(patterns);
  populateShapePatterns(patterns);
}
