//===- MoEAttrs.h - Routing and activation attributes -----------*- C++ -*-===//
//
// The enums and attributes that state routing rules and expert FFNs.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECT_MOE_IR_MOEATTRS_H
#define MOE_DIALECT_MOE_IR_MOEATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "moe/Dialect/MoE/IR/MoEEnums.h.inc"

namespace mlir::moe {
/// Prints a float parameter in its shortest exact decimal form ("2.5",
/// "7.0"), which parseFloat reads back to the same value.
void printShortFloat(AsmPrinter &printer, const llvm::APFloat &value);

/// A single-precision model constant as the double the attributes store:
/// the shortest decimal that reads back as the same float (1.702f ->
/// 1.702), so IR shows the author's value and defaults compare equal.
double floatParameter(float value);
} // namespace mlir::moe

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoEAttrs.h.inc"

#endif // MOE_DIALECT_MOE_IR_MOEATTRS_H
