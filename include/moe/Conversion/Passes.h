//===- Passes.h - Conversion passes of the MoE compiler ---------*- C++ -*-===//
//
// Declares and registers every conversion pass; each folder's header
// declares its own pass and patterns.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_PASSES_H
#define MOE_CONVERSION_PASSES_H

#include "moe/Conversion/MoEToLinalg/MoEToLinalg.h"
#include "moe/Conversion/MoEToRuntime/MoEToRuntime.h"
#include "moe/Conversion/ONNXToLinalg/ONNXToLinalg.h"

namespace mlir::moe {

#define GEN_PASS_REGISTRATION
#include "moe/Conversion/Passes.h.inc"

} // namespace mlir::moe

#endif // MOE_CONVERSION_PASSES_H
