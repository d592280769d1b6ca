//===- Npy.cpp - NumPy .npy files -----------------------------------------===//
//
// Format: "\x93NUMPY", major, minor, header length (2 bytes in 1.0, 4 in
// 2.0/3.0, little endian), a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
// spaces to a multiple of 64 bytes, then the data.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>

using namespace moe::model;

namespace {
const struct {
  const char *descr;
  moe_dtype dtype;
} kDescrs[] = {
    {"<f4", MOE_DTYPE_F32},
    {"<f8", MOE_DTYPE_F64},
    {"<i4", MOE_DTYPE_I32},
    {"<i8", MOE_DTYPE_I64},
    {"|i1", MOE_DTYPE_I8},
    {"|u1", MOE_DTYPE_U8},
    {"|b1", MOE_DTYPE_BOOL},
    {"<f2", MOE_DTYPE_F16},
    // bfloat16 has no numpy type code: ml_dtypes' bfloat16 arrays are
    // saved as two-byte voids (read back with .view(ml_dtypes.bfloat16)).
    {"<V2", MOE_DTYPE_BF16},
};

struct FileCloser {
  void operator()(FILE *f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

/// The text after `'key':` in the header dict, or npos.
size_t valueOf(const std::string &header, const std::string &key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return at;
  at = header.find(':', at);
  if (at == std::string::npos)
    return at;
  ++at;
  while (at < header.size() && header[at] == ' ')
    ++at;
  return at;
}

bool parseHeader(const std::string &header, NpyArray &array,
                 std::string &why) {
  size_t descr = valueOf(header, "descr");
  if (descr == std::string::npos || header[descr] != '\'')
    return why = "no 'descr'", false;
  size_t end = header.find('\'', descr + 1);
  std::string name = header.substr(descr + 1, end - descr - 1);
  // Single-byte types may be written '<i1' or '|i1', voids '|V2' or '<V2'.
  if (name.size() == 3 && name[0] == '<' && name[2] == '1')
    name[0] = '|';
  if (name == "|V2")
    name = "<V2";
  bool known = false;
  for (const auto &entry : kDescrs)
    if (name == entry.descr) {
      array.dtype = entry.dtype;
      known = true;
    }
  if (!known)
    return why =
               "dtype '" + name +
               "' is not one compiled models take (little-endian f32, "
               "f64, f16, bf16 as ml_dtypes saves it, i64, i32, i8, u8, bool)",
           false;

  size_t order = valueOf(header, "fortran_order");
  if (order == std::string::npos)
    return why = "no 'fortran_order'", false;
  if (header.compare(order, 5, "False") != 0)
    return why = "Fortran-order arrays are not supported (save a C-order "
                 "array: numpy.ascontiguousarray)",
           false;

  size_t shape = valueOf(header, "shape");
  if (shape == std::string::npos || header[shape] != '(')
    return why = "no 'shape'", false;
  size_t close = header.find(')', shape);
  if (close == std::string::npos)
    return why = "unterminated 'shape'", false;
  std::string dims = header.substr(shape + 1, close - shape - 1);
  const char *p = dims.c_str();
  while (*p) {
    while (*p == ' ' || *p == ',')
      ++p;
    if (!*p)
      break;
    if (!std::isdigit(static_cast<unsigned char>(*p)))
      return why = "malformed 'shape'", false;
    char *next = nullptr;
    unsigned long long value = std::strtoull(p, &next, 10);
    if (value > static_cast<unsigned long long>(INT64_MAX))
      return why = "a dimension overflows", false;
    array.shape.push_back(static_cast<int64_t>(value));
    p = next;
  }
  if (array.shape.size() > MOE_MODEL_MAX_RANK)
    return why = "rank " + std::to_string(array.shape.size()) +
                 " is over the limit of " + std::to_string(MOE_MODEL_MAX_RANK),
           false;
  return true;
}
} // namespace

bool moe::model::readNpy(const std::string &path, NpyArray &array,
                         std::string &error) {
  auto failWith = [&](const std::string &why) {
    error = "'" + path + "': " + why;
    return false;
  };
  File file(std::fopen(path.c_str(), "rb"));
  if (!file)
    return failWith(std::string("cannot open: ") + std::strerror(errno));
  unsigned char magic[8];
  if (std::fread(magic, 1, 8, file.get()) != 8 ||
      std::memcmp(magic, "\x93NUMPY", 6) != 0)
    return failWith("not a .npy file (bad magic)");
  uint32_t headerLength = 0;
  unsigned char length[4] = {0, 0, 0, 0};
  size_t lengthBytes = magic[6] == 1 ? 2 : 4;
  if (magic[6] < 1 || magic[6] > 3)
    return failWith("unsupported .npy version " + std::to_string(magic[6]));
  if (std::fread(length, 1, lengthBytes, file.get()) != lengthBytes)
    return failWith("truncated header");
  for (size_t i = 0; i < lengthBytes; ++i)
    headerLength |= static_cast<uint32_t>(length[i]) << (8 * i);
  if (headerLength > (1u << 20))
    return failWith("header too long");
  std::string header(headerLength, '\0');
  if (std::fread(&header[0], 1, headerLength, file.get()) != headerLength)
    return failWith("truncated header");
  std::string why;
  if (!parseHeader(header, array, why))
    return failWith(why);

  size_t count = 1, bytes;
  for (int64_t dim : array.shape)
    if (__builtin_mul_overflow(count, static_cast<size_t>(dim), &count))
      return failWith("the shape overflows");
  if (__builtin_mul_overflow(count, moe_dtype_size(array.dtype), &bytes))
    return failWith("the shape overflows");
  // The file must hold exactly the data the shape says.
  long start = std::ftell(file.get());
  std::fseek(file.get(), 0, SEEK_END);
  long end = std::ftell(file.get());
  if (start < 0 || end < start || static_cast<size_t>(end - start) != bytes)
    return failWith("holds " + std::to_string(end - start) +
                    " bytes of data, its shape needs " +
                    std::to_string(bytes));
  std::fseek(file.get(), start, SEEK_SET);
  array.data.resize(bytes);
  if (bytes && std::fread(array.data.data(), 1, bytes, file.get()) != bytes)
    return failWith("truncated data");
  return true;
}

bool moe::model::writeNpy(const std::string &path, moe_dtype dtype,
                          const int64_t *shape, int32_t rank, const void *data,
                          size_t bytes, std::string &error) {
  const char *descr = nullptr;
  for (const auto &entry : kDescrs)
    if (entry.dtype == dtype)
      descr = entry.descr;
  if (!descr) {
    error = "'" + path + "': no .npy dtype for this output";
    return false;
  }
  std::string dict = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': (";
  for (int32_t i = 0; i < rank; ++i)
    dict += std::to_string(shape[i]) + (rank == 1 || i + 1 < rank ? "," : "") +
            (i + 1 < rank ? " " : "");
  dict += "), }";
  // Magic (6) + version (2) + length (2) + dict + '\n', to a multiple of 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  File file(std::fopen(path.c_str(), "wb"));
  if (!file) {
    error = "'" + path + "': cannot write: " + std::strerror(errno);
    return false;
  }
  unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                              static_cast<unsigned char>(dict.size() & 0xff),
                              static_cast<unsigned char>(dict.size() >> 8)};
  bool ok = std::fwrite(prefix, 1, 10, file.get()) == 10 &&
            std::fwrite(dict.data(), 1, dict.size(), file.get()) ==
                dict.size() &&
            (!bytes || std::fwrite(data, 1, bytes, file.get()) == bytes);
  if (!ok || std::fflush(file.get()) != 0) {
    error = "'" + path + "': write failed";
    return false;
  }
  return true;
}
