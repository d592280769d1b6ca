//===- moe-opt.cpp - The MoE compiler's optimizer driver ------------------===//
//
// mlir-opt for the MoE compiler: the dialects it parses, its passes and
// pipelines, and the upstream passes those pipelines use.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

int main(int argc, char **argv) {
  DialectRegistry registry;
  moe::registerCompilerDialects(registry);

  moe::registerMoEConversionPasses();
  moe::registerMoETransformsPasses();
  moe::registerMoEPipelines();
  registerTransformsPasses();
  registerConversionPasses();
  bufferization::registerBufferizationPasses();
  bufferization::registerBufferizationPipelines();
  registerLinalgPasses();
  memref::registerMemRefPasses();

  return asMainReturnCode(
      MlirOptMain(argc, argv, "MoE compiler optimizer driver\n", registry));
}
