//===- MoEOps.h - moe dialect operations ------------------------*- C++ -*-===//
//
// The ops of the moe dialect; see MoEOps.td for their semantics.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEOPS_H
#define MOE_DIALECT_MOE_IR_MOEOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "moe/Dialect/MoE/IR/MoEAttrs.h"
#include "moe/Dialect/MoE/IR/MoEDialect.h"

#define GET_OP_CLASSES
#include "moe/Dialect/MoE/IR/MoEOps.h.inc"

namespace mlir::moe {
/// Discardable attribute of a moe.layer raised in f32 from 16-bit expert
/// weights (a bf16 model whose router or combine runs in f32): their type,
/// which --weights=auto keeps.
inline constexpr llvm::StringLiteral kSourceWeightTypeAttr =
    "moe.source_weight_type";
} // namespace mlir::moe

#endif // MOE_DIALECT_MOE_IR_MOEOPS_H
