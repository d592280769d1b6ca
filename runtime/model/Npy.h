//===- Npy.h - NumPy .npy files for moe-run and model executables -*- C++ -*-=//
//
// No maintained C++ .npy library is packaged for Debian (cnpy and xtensor
// are not in our dependency set), and the format is one header plus raw
// data, so this is a small strict reader: little-endian C-order arrays of
// the dtypes compiled models take, with the data size checked against the
// shape before anything is read.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_MODEL_NPY_H
#define MOE_RUNTIME_MODEL_NPY_H

#include "moe_model.h"

#include <cstdint>
#include <string>
#include <vector>

namespace moe::model {

struct NpyArray {
  moe_dtype dtype = MOE_DTYPE_F32;
  std::vector<int64_t> shape;
  std::vector<char> data;
};

/// Reads `path`; false with `error` (naming the file) when it cannot.
bool readNpy(const std::string &path, NpyArray &array, std::string &error);

/// Writes a .npy (version 1.0) file.
bool writeNpy(const std::string &path, moe_dtype dtype,
              const int64_t *shape, int32_t rank, const void *data,
              size_t bytes, std::string &error);

} // namespace moe::model

#endif // MOE_RUNTIME_MODEL_NPY_H
