//===- moe-translate.cpp - Translations into and out of MLIR --------------===//
//
// mlir-translate for the MoE compiler; `--import-onnx model.onnx` imports
// an ONNX model. On error nothing is written and the exit code is 1.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/ONNX/ImportONNX.h"

#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"

int main(int argc, char **argv) {
  mlir::moe::registerImportONNXTranslation();
  return mlir::failed(
      mlir::mlirTranslateMain(argc, argv, "MoE compiler translation driver\n"));
}
