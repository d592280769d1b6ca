//===- TensorMap.cpp - Tensor maps and TMA loads on the emulated device ---===//
//
// cuTensorMapEncodeTiled (handed out by the emulated
// cudaGetDriverEntryPointByVersion) checks a tiled tensor map's
// arguments as the driver documents them and writes them into the
// opaque CUtensorMap in a layout of its own; tensorLoad (the TMA load,
// cp.async.bulk.tensor) reads a box through it. Only what the runtime's
// kernels use is emulated: 2-byte and 4-byte elements, no interleave,
// element strides of 1, no swizzle or the 128-byte one, zeros outside
// the tensor. Anything else is refused, not approximated.
//
//===----------------------------------------------------------------------===//

#include "EmulatedDevice.h"

#include <atomic>
#include <cstring>

namespace moe::cuda_emulation {
namespace {

std::atomic<int64_t> loads{0};

constexpr uint64_t kMagic = 0x4D4F45544D415031ULL; // "MOETMAP1"

/// What the opaque 128 bytes hold here.
struct Map {
  uint64_t magic;
  uint32_t rank, elementBytes, swizzle128, unused;
  uint64_t address;
  uint64_t dims[5];
  uint64_t strides[4]; // bytes, of dimensions 1 .. rank - 1
  uint32_t box[5];
};
static_assert(sizeof(Map) <= sizeof(CUtensorMap));

int elementBytes(CUtensorMapDataType type) {
  switch (type) {
  case CU_TENSOR_MAP_DATA_TYPE_UINT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16:
    return 2;
  case CU_TENSOR_MAP_DATA_TYPE_UINT32:
  case CU_TENSOR_MAP_DATA_TYPE_INT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
    return 4;
  default:
    return 0;
  }
}

} // namespace

CUresult CUDAAPI device::encodeTensorMapTiled(
    CUtensorMap *tensorMap, CUtensorMapDataType type, cuuint32_t rank,
    void *address, const cuuint64_t *dims, const cuuint64_t *strides,
    const cuuint32_t *box, const cuuint32_t *elementStrides,
    CUtensorMapInterleave interleave, CUtensorMapSwizzle swizzle,
    CUtensorMapL2promotion, CUtensorMapFloatOOBfill oobFill) {
  Map m = {};
  m.elementBytes = uint32_t(elementBytes(type));
  // The driver's documented requirements (cuTensorMapEncodeTiled).
  if (!tensorMap || m.elementBytes == 0 || rank < 1 || rank > 5 ||
      reinterpret_cast<uintptr_t>(address) % 16 != 0 ||
      interleave != CU_TENSOR_MAP_INTERLEAVE_NONE ||
      oobFill != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE ||
      (swizzle != CU_TENSOR_MAP_SWIZZLE_NONE &&
       swizzle != CU_TENSOR_MAP_SWIZZLE_128B))
    return CUDA_ERROR_INVALID_VALUE;
  for (cuuint32_t d = 0; d < rank; ++d) {
    if (dims[d] == 0 || dims[d] > (uint64_t(1) << 32) || box[d] == 0 ||
        box[d] > 256 || elementStrides[d] != 1)
      return CUDA_ERROR_INVALID_VALUE;
    if (d > 0 &&
        (strides[d - 1] % 16 != 0 || strides[d - 1] >= (uint64_t(1) << 40)))
      return CUDA_ERROR_INVALID_VALUE;
    m.dims[d] = dims[d];
    m.box[d] = box[d];
    if (d > 0)
      m.strides[d - 1] = strides[d - 1];
  }
  uint32_t innerBytes = box[0] * m.elementBytes;
  if (innerBytes % 16 != 0 ||
      (swizzle == CU_TENSOR_MAP_SWIZZLE_128B && innerBytes > 128))
    return CUDA_ERROR_INVALID_VALUE;
  m.magic = kMagic;
  m.rank = rank;
  m.swizzle128 = swizzle == CU_TENSOR_MAP_SWIZZLE_128B;
  m.address = reinterpret_cast<uintptr_t>(address);
  std::memset(tensorMap, 0, sizeof(*tensorMap));
  std::memcpy(tensorMap, &m, sizeof(m));
  return CUDA_SUCCESS;
}

void tensorLoad(uint32_t dst, const void *tensorMap, const int32_t *coords,
                int rank, uint32_t bar) {
  Map m;
  std::memcpy(&m, tensorMap, sizeof(m));
  if (m.magic != kMagic)
    fail("TMA load through a tensor map cuTensorMapEncodeTiled did not "
         "encode");
  if (uint32_t(rank) != m.rank)
    fail("TMA load of a rank other than its tensor map's");
  if (dst % 128 != 0)
    fail("TMA destination not 128-byte aligned");
  uint64_t count = 1;
  for (uint32_t d = 0; d < m.rank; ++d)
    count *= m.box[d];
  uint32_t bytes = uint32_t(count * m.elementBytes);
  (void)sharedPointer(dst + bytes - 1); // the box fits the shared memory
  const auto *global = reinterpret_cast<const unsigned char *>(m.address);
  int64_t inBounds = 0;
  for (uint64_t i = 0; i < count; ++i) {
    // Element i of the box (dimension 0 fastest) and where it is.
    uint64_t rest = i, offset = 0;
    bool inside = true;
    for (uint32_t d = 0; d < m.rank; ++d) {
      int64_t at = int64_t(coords[d]) + int64_t(rest % m.box[d]);
      rest /= m.box[d];
      inside &= at >= 0 && uint64_t(at) < m.dims[d];
      offset += d == 0 ? uint64_t(at) * m.elementBytes
                       : uint64_t(at) * m.strides[d - 1];
    }
    uint32_t address = dst + uint32_t(i * m.elementBytes);
    // The 128-byte swizzle: 16-byte chunk bits 4-6 ^= address bits 7-9.
    if (m.swizzle128)
      address ^= ((address >> 7) & 7) << 4;
    unsigned char *out = sharedPointer(address);
    if (inside) {
      std::memcpy(out, global + offset, m.elementBytes);
      inBounds += m.elementBytes;
    } else
      std::memset(out, 0, m.elementBytes);
  }
  mbarrierCompleteTx(bar, bytes);
  device::addStagedBytes(inBounds);
  ++loads;
}

} // namespace moe::cuda_emulation

/// TMA loads so far: the kernel tests check with it that the wgmma kernel
/// ran rather than the one it falls back to.
extern "C" int64_t moe_model_test_tma_loads(void) {
  return moe::cuda_emulation::loads;
}
