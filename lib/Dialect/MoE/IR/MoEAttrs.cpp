//===- MoEAttrs.cpp - Routing and activation attributes -------------------===//
//
// Verifiers of the routing and activation parameters. Checks that need the
// number of experts live in RoutingAttr::verifyForExperts, called by the
// ops that know it.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEAttrs.h"
#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace mlir::moe;

#include "moe/Dialect/MoE/IR/MoEEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/Dialect/MoE/IR/MoEAttrs.cpp.inc"

void mlir::moe::printShortFloat(AsmPrinter &printer, const APFloat &value) {
  SmallString<32> text;
  value.toString(text);
  // toString drops the fraction of whole numbers; the float literal syntax
  // needs it.
  if (value.isFinite() && !StringRef(text).contains_insensitive('.') &&
      !StringRef(text).contains_insensitive('e'))
    text += ".0";
  if (!value.isFinite()) {
    printer.printFloat(value);
    return;
  }
  printer << text;
}

double mlir::moe::floatParameter(float value) {
  char text[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strtof(text, nullptr) == value)
      return std::strtod(text, nullptr);
  }
  return static_cast<double>(value);
}

void MoEDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/Dialect/MoE/IR/MoEAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// RoutingAttr
//===----------------------------------------------------------------------===//

RoutingAttr RoutingAttr::get(MLIRContext *context, RoutingKind kind,
                             int64_t k, bool renormalize, double scale,
                             int64_t nGroup, int64_t topkGroup,
                             double capacityFactor, DropPolicy dropPolicy,
                             GroupMask groupMask) {
  return get(context, kind, k, renormalize, APFloat(scale), nGroup, topkGroup,
             groupMask, APFloat(capacityFactor), dropPolicy);
}

LogicalResult
RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                    RoutingKind kind, int64_t k, bool renormalize,
                    APFloat scaleValue, int64_t nGroup, int64_t topkGroup,
                    GroupMask groupMask, APFloat capacityValue,
                    DropPolicy dropPolicy) {
  double scale = scaleValue.convertToDouble();
  double capacityFactor = capacityValue.convertToDouble();
  if (k < 1)
    return emitError() << "routing k must be at least 1, got " << k;
  if (!std::isfinite(scale) || scale <= 0.0)
    return emitError() << "routing scale must be a positive finite number";
  if (nGroup < 1)
    return emitError() << "routing n_group must be at least 1, got "
                       << nGroup;
  if (topkGroup < 1 || topkGroup > nGroup)
    return emitError() << "routing topk_group must be in [1, n_group = "
                       << nGroup << "], got " << topkGroup;
  if (nGroup > 1 && kind != RoutingKind::SigmoidTopK)
    return emitError() << "group-limited selection (n_group > 1) is only "
                          "defined for sigmoid_topk routing";
  if (groupMask != GroupMask::NegInf && nGroup == 1)
    return emitError() << "group_mask only applies to group-limited "
                          "selection (n_group > 1)";
  if (!std::isfinite(capacityFactor) || capacityFactor < 0.0)
    return emitError()
           << "routing capacity_factor must be non-negative and finite";
  if (kind == RoutingKind::ExpertChoice) {
    if (capacityFactor == 0.0)
      return emitError() << "expert_choice routing needs capacity_factor > 0 "
                            "(it sets how many tokens each expert takes)";
    if (renormalize)
      return emitError() << "expert_choice routing does not renormalize";
  }
  if (dropPolicy != DropPolicy::Zero &&
      (capacityFactor == 0.0 || kind == RoutingKind::ExpertChoice))
    return emitError() << "drop_policy only applies to token-choice routing "
                          "with capacity_factor > 0";
  return success();
}

LogicalResult RoutingAttr::verifyForExperts(
    function_ref<InFlightDiagnostic()> emitError, int64_t numExperts) const {
  int64_t k = getK();
  if (k > numExperts)
    return emitError() << "routing k = " << k
                       << " exceeds the number of experts (" << numExperts
                       << ")";
  if (getKind() == RoutingKind::Dense && k != numExperts)
    return emitError() << "dense routing selects every expert: k must be "
                       << numExperts << ", got " << k;
  int64_t nGroup = getNGroup();
  if (numExperts % nGroup != 0)
    return emitError() << "routing n_group = " << nGroup
                       << " does not divide the number of experts ("
                       << numExperts << ")";
  if (getTopkGroup() * (numExperts / nGroup) < k)
    return emitError() << "routing topk_group = " << getTopkGroup()
                       << " groups of " << numExperts / nGroup
                       << " experts hold fewer than k = " << k << " experts";
  return success();
}

bool RoutingAttr::isDenseEquivalent(int64_t numExperts) const {
  // A full softmax over every expert: picking all E of softmax(logits), or
  // taking a softmax over all E picked logits, is the dense mixture.
  // Renormalizing a full softmax changes nothing.
  return (getKind() == RoutingKind::SoftmaxTopK ||
          getKind() == RoutingKind::TopKSoftmax) &&
         getK() == numExperts && getCapacityFactorValue() == 0.0 &&
         getNGroup() == 1;
}

//===----------------------------------------------------------------------===//
// ActivationAttr
//===----------------------------------------------------------------------===//

LogicalResult
ActivationAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       ActivationKind kind, APFloat alphaValue,
                       APFloat betaValue, APFloat limitValue) {
  double alpha = alphaValue.convertToDouble();
  double beta = betaValue.convertToDouble();
  double limit = limitValue.convertToDouble();
  if (kind != ActivationKind::ClampedSwiGLU) {
    if (alpha != 1.702 || beta != 1.0 || limit != 7.0)
      return emitError() << "alpha, beta and limit only apply to the "
                            "clamped_swiglu activation, not "
                         << stringifyActivationKind(kind);
    return success();
  }
  if (!std::isfinite(alpha) || !std::isfinite(beta))
    return emitError() << "clamped_swiglu alpha and beta must be finite";
  if (!(limit > 0.0))
    return emitError() << "clamped_swiglu limit must be positive";
  return success();
}

Attribute ActivationAttr::parse(AsmParser &parser, Type) {
  MLIRContext *context = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  FailureOr<ActivationKind> kind;
  if (parser.parseLess() ||
      failed(kind = FieldParser<ActivationKind>::parse(parser)))
    return {};
  double alpha = 1.702, beta = 1.0, limit = 7.0;
  while (succeeded(parser.parseOptionalComma())) {
    StringRef name;
    SMLoc nameLoc = parser.getCurrentLocation();
    double *slot = nullptr;
    if (parser.parseKeyword(&name))
      return {};
    if (name == "alpha")
      slot = &alpha;
    else if (name == "beta")
      slot = &beta;
    else if (name == "limit")
      slot = &limit;
    else
      return parser.emitError(nameLoc, "unknown activation parameter '")
                 << name << "'; expected alpha, beta or limit",
             Attribute();
    if (parser.parseEqual() || parser.parseFloat(*slot))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); }, context, *kind,
                    APFloat(alpha), APFloat(beta), APFloat(limit));
}

void ActivationAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyActivationKind(getKind());
  auto printIfSet = [&](StringRef name, const APFloat &value, double dflt) {
    if (!value.bitwiseIsEqual(APFloat(dflt))) {
      printer << ", " << name << " = ";
      printShortFloat(printer, value);
    }
  };
  printIfSet("alpha", getAlpha(), 1.702);
  printIfSet("beta", getBeta(), 1.0);
  printIfSet("limit", getLimit(), 7.0);
  printer << ">";
}

bool ActivationAttr::isGated() const {
  return getKind() == ActivationKind::SwiGLU ||
         getKind() == ActivationKind::ClampedSwiGLU;
}
