//===- MemRefSupport.cpp - Helpers the MLIR-lowered code calls ------------===//
//
// finalize-memref-to-llvm lowers a memref.copy between non-contiguous
// buffers to a call of `memrefCopy`, which MLIR ships only in
// libmlir_c_runner_utils. Compiled models must not depend on MLIR, so the
// runtime provides it, with the same signature and semantics.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>

namespace {
/// Any-rank view of a ranked memref descriptor: {allocated, aligned,
/// offset, sizes[rank], strides[rank]}.
struct StridedView {
  char *aligned;
  int64_t offset;
  const int64_t *sizes;
  const int64_t *strides;
};

struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

StridedView view(const UnrankedMemRef &memref) {
  auto *words = static_cast<int64_t *>(memref.descriptor);
  StridedView v;
  v.aligned = reinterpret_cast<char *>(words[1]);
  v.offset = words[2];
  v.sizes = words + 3;
  v.strides = words + 3 + memref.rank;
  return v;
}
} // namespace

extern "C" void memrefCopy(int64_t elementSize, UnrankedMemRef *source,
                           UnrankedMemRef *target) {
  int64_t rank = source->rank;
  StridedView src = view(*source), dst = view(*target);
  for (int64_t d = 0; d < rank; ++d)
    if (src.sizes[d] == 0)
      return;
  // Odometer over all indices but the last, copying the innermost rows.
  int64_t index[16] = {0};
  if (rank > 16)
    __builtin_trap();
  if (rank == 0) {
    std::memcpy(dst.aligned + dst.offset * elementSize,
                src.aligned + src.offset * elementSize, elementSize);
    return;
  }
  int64_t inner = src.sizes[rank - 1];
  for (;;) {
    int64_t srcOffset = src.offset, dstOffset = dst.offset;
    for (int64_t d = 0; d + 1 < rank; ++d) {
      srcOffset += index[d] * src.strides[d];
      dstOffset += index[d] * dst.strides[d];
    }
    for (int64_t i = 0; i < inner; ++i)
      std::memcpy(dst.aligned +
                      (dstOffset + i * dst.strides[rank - 1]) * elementSize,
                  src.aligned +
                      (srcOffset + i * src.strides[rank - 1]) * elementSize,
                  elementSize);
    int64_t d = rank - 2;
    for (; d >= 0; --d) {
      if (++index[d] < src.sizes[d])
        break;
      index[d] = 0;
    }
    if (d < 0)
      return;
  }
}
