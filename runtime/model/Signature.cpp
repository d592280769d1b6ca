//===- Signature.cpp - Read and write a compiled model's signature --------===//

#include "Signature.h"

#include <cctype>
#include <cstdlib>
#include <cstring>

using namespace moe::model;

namespace {
const struct {
  moe_dtype dtype;
  const char *name;
  size_t size;
} kDTypes[] = {
    {MOE_DTYPE_F32, "f32", 4},   {MOE_DTYPE_F64, "f64", 8},
    {MOE_DTYPE_I32, "i32", 4},   {MOE_DTYPE_I64, "i64", 8},
    {MOE_DTYPE_I8, "i8", 1},     {MOE_DTYPE_U8, "u8", 1},
    {MOE_DTYPE_BOOL, "bool", 1}, {MOE_DTYPE_F16, "f16", 2},
    {MOE_DTYPE_BF16, "bf16", 2},
};

/// A cursor over the signature text.
class Reader {
public:
  explicit Reader(const char *text) : p(text) {}

  bool atEnd() const { return *p == '\0'; }
  void skipSpaces() {
    while (*p == ' ')
      ++p;
  }
  bool word(std::string &out) {
    skipSpaces();
    const char *begin = p;
    while (*p && *p != ' ' && *p != '\n')
      ++p;
    out.assign(begin, p);
    return !out.empty();
  }
  bool integer(int64_t &out) {
    skipSpaces();
    if (!(*p == '-' || std::isdigit(static_cast<unsigned char>(*p))))
      return false;
    char *end = nullptr;
    out = std::strtoll(p, &end, 10);
    p = end;
    return true;
  }
  /// `<length>:<bytes>`.
  bool counted(std::string &out) {
    int64_t length;
    if (!integer(length) || length < 0 || *p != ':')
      return false;
    ++p;
    if (static_cast<int64_t>(strnlen(p, static_cast<size_t>(length))) < length)
      return false;
    out.assign(p, static_cast<size_t>(length));
    p += length;
    return true;
  }
  bool peek(char c) {
    skipSpaces();
    return *p == c;
  }
  bool newline() {
    skipSpaces();
    if (*p != '\n')
      return false;
    ++p;
    return true;
  }

private:
  const char *p;
};

bool parseTensor(Reader &reader, TensorSignature &tensor) {
  std::string dtype;
  int64_t rank;
  if (!reader.word(dtype) || !parseDType(dtype, tensor.dtype) ||
      !reader.integer(rank) || rank < 0 || rank > MOE_MODEL_MAX_RANK)
    return false;
  for (int64_t i = 0; i < rank; ++i) {
    std::string symbol;
    if (reader.peek('?')) {
      reader.word(symbol);
      if (symbol != "?")
        return false;
      tensor.shape.push_back(-1);
      tensor.symbols.emplace_back();
      continue;
    }
    // A size, or a counted symbol: both start with digits.
    int64_t value;
    if (!reader.integer(value))
      return false;
    if (!reader.peek(':')) {
      if (value < 0)
        return false;
      tensor.shape.push_back(value);
      tensor.symbols.emplace_back();
      continue;
    }
    // Re-read as a counted string: the integer was its length.
    std::string rest;
    if (!reader.word(rest) || static_cast<int64_t>(rest.size()) < value + 1)
      return false;
    // Symbols never hold spaces (the compiler writes `?` for those).
    if (static_cast<int64_t>(rest.size()) != value + 1)
      return false;
    tensor.shape.push_back(-1);
    tensor.symbols.push_back(rest.substr(1));
  }
  return reader.counted(tensor.name) && reader.newline();
}
} // namespace

bool moe::model::parseDType(const std::string &name, moe_dtype &dtype) {
  for (const auto &entry : kDTypes)
    if (name == entry.name) {
      dtype = entry.dtype;
      return true;
    }
  return false;
}

bool moe::model::parseSignature(const char *text, Signature &signature,
                                std::string &error) {
  Reader reader(text);
  int line = 1;
  while (!reader.atEnd()) {
    std::string kind;
    TensorSignature tensor;
    if (!reader.word(kind) || (kind != "in" && kind != "out") ||
        !parseTensor(reader, tensor)) {
      error = "malformed model signature at line " + std::to_string(line);
      return false;
    }
    (kind == "in" ? signature.inputs : signature.outputs)
        .push_back(std::move(tensor));
    ++line;
  }
  return true;
}

void moe::model::printTensorSignature(bool isInput,
                                      const TensorSignature &tensor,
                                      std::string &out) {
  out += isInput ? "in " : "out ";
  out += moe_dtype_name(tensor.dtype);
  out += ' ' + std::to_string(tensor.shape.size());
  for (size_t i = 0; i < tensor.shape.size(); ++i) {
    const std::string symbol =
        i < tensor.symbols.size() ? tensor.symbols[i] : std::string();
    if (tensor.shape[i] >= 0)
      out += ' ' + std::to_string(tensor.shape[i]);
    else if (symbol.empty() || symbol.find_first_of(" \n") != std::string::npos)
      out += " ?";
    else
      out += ' ' + std::to_string(symbol.size()) + ':' + symbol;
  }
  out += ' ' + std::to_string(tensor.name.size()) + ':' + tensor.name + '\n';
}

extern "C" size_t moe_dtype_size(moe_dtype dtype) {
  for (const auto &entry : kDTypes)
    if (entry.dtype == dtype)
      return entry.size;
  return 0;
}

extern "C" const char *moe_dtype_name(moe_dtype dtype) {
  for (const auto &entry : kDTypes)
    if (entry.dtype == dtype)
      return entry.name;
  return "?";
}
