//===- Signature.h - Inputs and outputs of a compiled model -----*- C++ -*-===//
//
// moe-compile writes a model's signature into the binary as text (the
// `__moe_model_signature` string), one line per tensor:
//
//   in|out <dtype> <rank> <dim>... <length>:<name>
//
// where <dim> is a size, `?` (chosen at run time) or `<length>:<symbol>`
// (chosen at run time, equal wherever the symbol appears: ONNX dim_param).
// Text keeps the binary inspectable with `strings` and the format free of
// struct layouts shared between compiler and runtime.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_MODEL_SIGNATURE_H
#define MOE_RUNTIME_MODEL_SIGNATURE_H

#include "moe_model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace moe::model {

struct TensorSignature {
  std::string name;
  moe_dtype dtype = MOE_DTYPE_F32;
  /// -1 for dimensions chosen at run time.
  std::vector<int64_t> shape;
  /// The ONNX dim_param of each dimension ("" when none).
  std::vector<std::string> symbols;
};

struct Signature {
  std::vector<TensorSignature> inputs;
  std::vector<TensorSignature> outputs;
};

/// Parses the text above; false (with `error` set) when it is malformed.
bool parseSignature(const char *text, Signature &signature,
                    std::string &error);

/// Appends one line of the format above (the compiler's writer and the
/// parser's tests share it).
void printTensorSignature(bool isInput, const TensorSignature &tensor,
                          std::string &out);

/// Parses "f32", "i64", ...; false for an unknown name.
bool parseDType(const std::string &name, moe_dtype &dtype);

} // namespace moe::model

#endif // MOE_RUNTIME_MODEL_SIGNATURE_H
