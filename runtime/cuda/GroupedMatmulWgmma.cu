//===- GroupedMatmulWgmma.cu - bf16/fp16 grouped matmul on wgmma (sm_90a) -===//
//
// EXPERIMENTAL, opt-in (MOE_CUDA_GROUPED_MATMUL=wgmma on a Hopper GPU):
// checked on the SIMT emulator (kernels_emulated_variants.test, an emulated
// sm_90 part) but not yet on a GPU, so it is not the default until
// scripts/gpu-check.sh has run and timed it (its kernel tests run it in a
// pass of their own). Docs: Notes.md, "The 16-bit CUDA grouped matmul".
//
// 128 rows x 128 weight columns per block, warp-specialized: one thread
// of the producer warpgroup loads the stages with TMA (a box of 128 rows
// x 64 k of the rows, two boxes of 64 k x 64 columns of the expert's
// weights: gate and up for a gated activation), each stage's arrival
// signalled on its `full` mbarrier; two consumer warpgroups wait for it,
// issue wgmma.m64n128k16 on their 64 rows, keep one k tile's wgmmas in
// flight while the next issues, and hand a stage back on its `empty`
// mbarrier once the wgmmas reading it have retired. The boxes land in
// wgmma's 128-byte-swizzled canonical layouts (IndexMath.h): the rows
// K-major, the weights [K, M] as they are, read MN-major (transposed by
// the instruction), so accumulator i (gate) and i + 32 (up) meet in one
// thread. Padding by index: k and columns past the matrix, rows past the
// rows, are zeros from TMA; rows of the next expert in a segment's last
// tile are computed and not stored. Where the driver cannot encode the
// tensor maps the mma.sync kernel runs instead.
//
//===----------------------------------------------------------------------===//

#include "Activation.cuh"
#include "AsyncCopy.cuh"
#include "CudaSupport.h"
#include "GroupedMatmul.h"
#include "IndexMath.h"
#include "Tma.cuh"

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

using namespace moe::runtime;
using namespace moe::runtime::cuda;
using namespace moe::runtime::cuda::tiles;

namespace {

constexpr int kStages = 5;
constexpr int kTileBytes = kWgmmaTileM * kWgmmaTileK * 2; // A or B, 16 KiB
constexpr int kConsumerWarps = 8;
static_assert(128 + kConsumerWarps * 32 == kWgmmaThreads);
// Stages of A then B, their `full` then `empty` mbarriers, plus room to
// align the first stage to 1024 bytes (the swizzle pattern follows
// address bits 7-9).
constexpr int kSharedBytes =
    2 * kStages * kTileBytes + 2 * kStages * 8 + kWgmmaAtomBytes;

/// The operands' TMA descriptors, encoded on the host for each launch.
struct TensorMaps {
  CUtensorMap rows, weights;
};

#if (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)) ||          \
    defined(MOE_CUDA_EMULATION)
#define MOE_WGMMA_AVAILABLE 1
#endif

#ifdef MOE_CUDA_EMULATION
// The SIMT emulator's versions of the instructions below (Simt.h).
namespace emulation = moe::cuda_emulation;
__device__ inline void wgmmaFence(float (&)[64]) {}
__device__ inline void wgmmaCommit() { emulation::wgmmaCommit(); }
template <int Pending> __device__ inline void wgmmaWait(float (&)[64]) {
  emulation::wgmmaWait(Pending);
}
template <typename Element>
__device__ inline void wgmma64x128(float (&d)[64], uint64_t a, uint64_t b) {
  emulation::wgmma64x128(d, a, b, std::is_same_v<Element, __half>);
}
#elif defined(MOE_WGMMA_AVAILABLE)
/// Keeps the compiler from moving the accumulators while wgmmas that
/// write them may be in flight.
__device__ inline void fenceAccumulators(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

/// Orders the registers' and shared memory's earlier accesses before the
/// wgmmas that follow.
__device__ inline void wgmmaFence(float (&d)[64]) {
  fenceAccumulators(d);
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ inline void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

/// Waits until at most `Pending` committed groups are in flight.
template <int Pending> __device__ inline void wgmmaWait(float (&d)[64]) {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
  fenceAccumulators(d);
}

/// acc (64 f32 per thread: the warpgroup's 64 x 128 tile) += A * B, A and
/// B from shared memory through their descriptors; B transposed (MN-major).
#define MOE_WGMMA_64x128(TYPE)                                                 \
  asm volatile(                                                                \
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                             \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " "         \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, "    \
      "%15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, " \
      "%29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, " \
      "%43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, " \
      "%57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 1;\n}\n"     \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]),           \
        "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]),           \
        "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),      \
        "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),      \
        "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]),      \
        "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]),      \
        "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),      \
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),      \
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]),      \
        "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),      \
        "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]),      \
        "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]),      \
        "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])                    \
      : "l"(a), "l"(b), "r"(1))

template <typename Element>
__device__ inline void wgmma64x128(float (&d)[64], uint64_t a, uint64_t b) {
  if constexpr (std::is_same_v<Element, __half>)
    MOE_WGMMA_64x128("f16");
  else
    MOE_WGMMA_64x128("bf16");
}
#undef MOE_WGMMA_64x128
#endif // MOE_CUDA_EMULATION

template <typename Element, bool Gated>
__global__ void __launch_bounds__(kWgmmaThreads)
    groupedMatmulWgmma(Grouped16<Element> p,
                       const __grid_constant__ TensorMaps maps) {
#ifdef MOE_WGMMA_AVAILABLE
  const int64_t kDim = p.kDim, outCols = p.outCols;
  int expert;
  int64_t rowBegin, rowEnd;
  if (!locateTile(p.offsets, p.numExperts, kWgmmaTileM, blockIdx.x, expert,
                  rowBegin, rowEnd))
    return;
  int64_t col0 = int64_t(blockIdx.y) * blockOutputCols(Gated);
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t base = sharedAddress(shared);
  uint32_t tiles = (base + kWgmmaAtomBytes - 1) & ~uint32_t(kWgmmaAtomBytes - 1);
  uint32_t aTiles = tiles, bTiles = tiles + kStages * kTileBytes;
  uint32_t full = bTiles + kStages * kTileBytes, empty = full + kStages * 8;
  int64_t kTiles = (kDim + kWgmmaTileK - 1) / kWgmmaTileK;
  int warpgroup = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32,
      lane = threadIdx.x % 32;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      mbarrierInit(full + 8 * s, 1);
      mbarrierInit(empty + 8 * s, kConsumerWarps);
    }
    fenceMbarrierInit();
  }
  __syncthreads();

  if (warpgroup == 0) { // the producer: one thread issues every load
    if (threadIdx.x != 0)
      return;
    for (int64_t kt = 0; kt < kTiles; ++kt) {
      int s = int(kt % kStages);
      uint32_t round = uint32_t(kt / kStages);
      if (round > 0) // the consumers are done with its previous contents
        mbarrierWait(empty + 8 * s, (round - 1) & 1);
      uint32_t bar = full + 8 * s;
      mbarrierArriveExpectTx(bar, 2 * kTileBytes);
      int32_t k0 = int32_t(kt * kWgmmaTileK);
      tmaLoad2d(aTiles + s * kTileBytes, &maps.rows, k0, int32_t(rowBegin),
                bar);
      for (int atom = 0; atom < 2; ++atom)
        tmaLoad3d(bTiles + s * kTileBytes + atom * kWgmmaTileK * 128,
                  &maps.weights,
                  int32_t(weightColumn(col0, atom * 64, Gated, outCols)), k0,
                  expert, bar);
    }
    return;
  }

  int consumer = warpgroup - 1;
  float d[64] = {};
  for (int64_t kt = 0; kt < kTiles; ++kt) {
    int s = int(kt % kStages);
    mbarrierWait(full + 8 * s, uint32_t(kt / kStages) & 1);
    uint32_t a = aTiles + s * kTileBytes, b = bTiles + s * kTileBytes;
    wgmmaFence(d);
#pragma unroll
    for (int kStep = 0; kStep < kWgmmaTileK / 16; ++kStep)
      wgmma64x128<Element>(d, wgmmaADescriptor(a, consumer, kStep),
                           wgmmaBDescriptor(b, kStep));
    wgmmaCommit();
    // The tile before this one has been read: its stage goes back.
    wgmmaWait<1>(d);
    if (kt > 0) {
      __syncwarp();
      if (lane == 0)
        mbarrierArrive(empty + 8 * int((kt - 1) % kStages));
    }
  }
  wgmmaWait<0>(d);

  const float *b = p.bias ? p.bias + int64_t(expert) * p.mDim : nullptr;
  constexpr int outRegs = Gated ? 32 : 64; // gate i pairs with up i + 32
#pragma unroll
  for (int i = 0; i < outRegs; ++i) {
    int64_t row = rowBegin + consumer * 64 + wgmmaAccRow(warp, lane, i);
    int64_t col = col0 + wgmmaAccCol(lane, i);
    if (row < rowEnd && col < outCols)
      storeOutput(p.out, outCols, row, col, d[i], Gated ? d[i + 32] : 0.0f, b,
                  outCols, p.act, Gated, p.rounded);
  }
#endif
}

/// cuTensorMapEncodeTiled, from the driver through cudart (the runtime
/// links no libcuda), or null where the driver has none.
PFN_cuTensorMapEncodeTiled_v12000 tensorMapEncoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 encoder = [] {
    void *function = nullptr;
    cudaDriverEntryPointQueryResult found{};
    bool ok = cudaGetDriverEntryPointByVersion(
                  "cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault,
                  &found) == cudaSuccess &&
              found == cudaDriverEntryPointSuccess;
    return ok ? reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function)
              : nullptr;
  }();
  return encoder;
}

/// The rows [numRows, K] (box: 128 rows of 64 k) and the weights
/// [E, K, M] (box: 64 k of 64 columns), 128-byte swizzled; false where
/// they cannot be encoded (no driver entry point, coordinates past int32).
template <typename Element>
bool encodeTensorMaps(const Grouped16<Element> &p, TensorMaps &maps) {
  auto encode = tensorMapEncoder();
  if (!encode || p.numRows > INT32_MAX || p.kDim > INT32_MAX ||
      p.mDim > INT32_MAX)
    return false;
  constexpr auto type = std::is_same_v<Element, __half>
                            ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                            : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const cuuint32_t unit[3] = {1, 1, 1};
  const cuuint64_t rowDims[2] = {cuuint64_t(p.kDim), cuuint64_t(p.numRows)};
  const cuuint64_t rowStrides[1] = {cuuint64_t(p.kDim) * 2};
  const cuuint32_t rowBox[2] = {kWgmmaTileK, kWgmmaTileM};
  const cuuint64_t weightDims[3] = {cuuint64_t(p.mDim), cuuint64_t(p.kDim),
                                    cuuint64_t(p.numExperts)};
  const cuuint64_t weightStrides[2] = {cuuint64_t(p.mDim) * 2,
                                       cuuint64_t(p.mDim * p.kDim) * 2};
  const cuuint32_t weightBox[3] = {64, kWgmmaTileK, 1};
  return encode(&maps.rows, type, 2, const_cast<Element *>(p.rows), rowDims,
                rowStrides, rowBox, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
                CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS &&
         encode(&maps.weights, type, 3, const_cast<Element *>(p.weights),
                weightDims, weightStrides, weightBox, unit,
                CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <typename Element, bool Gated>
moe_status launch(cudaStream_t stream, const Grouped16<Element> &p) {
  TensorMaps maps;
  if (!encodeTensorMaps(p, maps))
    return launchMmaGroupedMatmul(stream, p);
  auto kernel = groupedMatmulWgmma<Element, Gated>;
  MOE_TRY(allowDynamicSharedMemory(reinterpret_cast<const void *>(kernel),
                                   kSharedBytes));
  int64_t rowTiles = maxRowTiles(p.numRows, p.numExperts, kWgmmaTileM);
  int64_t colTiles =
      (p.outCols + blockOutputCols(Gated) - 1) / blockOutputCols(Gated);
  if (rowTiles > INT32_MAX || colTiles > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  dim3 grid{unsigned(rowTiles), unsigned(colTiles)};
  MOE_LAUNCH(grid, kWgmmaThreads, kSharedBytes, stream, kernel)(p, maps);
  return launched();
}

} // namespace

bool moe::runtime::cuda::wgmmaAvailable() {
  int device = 0, major = 0;
  return cudaGetDevice(&device) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                                device) == cudaSuccess &&
         major == 9;
}

template <typename Element>
moe_status moe::runtime::cuda::launchWgmmaGroupedMatmul(
    cudaStream_t stream, const Grouped16<Element> &operands) {
  return operands.gated ? launch<Element, true>(stream, operands)
                        : launch<Element, false>(stream, operands);
}

template moe_status moe::runtime::cuda::launchWgmmaGroupedMatmul(
    cudaStream_t, const Grouped16<__nv_bfloat16> &);
template moe_status moe::runtime::cuda::launchWgmmaGroupedMatmul(
    cudaStream_t, const Grouped16<__half> &);
