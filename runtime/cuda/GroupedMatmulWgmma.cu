//===- GroupedMatmulWgmma.cu - bf16/fp16 grouped matmul on wgmma (sm_90a) -===//
//
// EXPERIMENTAL, opt-in (MOE_CUDA_GROUPED_MATMUL=wgmma on a Hopper GPU):
// checked on the SIMT emulator (kernels_emulated_variants.test, an emulated sm_90
// part) but not yet on a GPU, so it is not the default until
// scripts/gpu-check.sh has run and timed it (its kernel tests run it in a
// pass of their own). Docs: Notes.md, "The 16-bit CUDA grouped matmul".
//
// 128 rows x 128 weight columns per block: two consumer warpgroups, each
// issuing wgmma.m64n128k16 on its 64 rows; operands staged by cp.async
// (4 stages of 64 k) straight into wgmma's 128-byte-swizzled canonical
// layouts (IndexMath.h): the rows K-major, the weights [K, M] as
// they are, read MN-major (transposed by the instruction). A gated
// activation's 64 gate and 64 up columns are the weights tile's two
// 64-column atoms, so accumulator i (gate) and i + 32 (up) meet in one
// thread. Rows past a segment and k or columns past the matrix are
// zero-filled by the copies (padding by index).
//
//===----------------------------------------------------------------------===//

#include "Activation.cuh"
#include "AsyncCopy.cuh"
#include "CudaSupport.h"
#include "GroupedMatmul.h"
#include "IndexMath.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

using namespace moe::runtime;
using namespace moe::runtime::cuda;
using namespace moe::runtime::cuda::tiles;

namespace {

constexpr int kStages = 4;
constexpr int kTileBytes = kWgmmaTileM * kWgmmaTileK * 2; // A or B, 16 KiB
// Stages of A then B, plus room to align the first to 1024 bytes (the
// swizzle pattern follows address bits 7-9).
constexpr int kSharedBytes = 2 * kStages * kTileBytes + kWgmmaAtomBytes;

#if (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)) ||          \
    defined(MOE_CUDA_EMULATION)
#define MOE_WGMMA_AVAILABLE 1
#endif

#ifdef MOE_CUDA_EMULATION
// The SIMT emulator's versions of the instructions below (Simt.h).
namespace emulation = moe::cuda_emulation;
__device__ inline void fenceProxyAsync() {}
__device__ inline void wgmmaFence() {}
__device__ inline void wgmmaCommit() {}
__device__ inline void wgmmaWait() {}
template <typename Element>
__device__ inline void wgmma64x128(float (&d)[64], uint64_t a, uint64_t b) {
  emulation::wgmma64x128(d, a, b, std::is_same_v<Element, __half>);
}
#elif defined(MOE_WGMMA_AVAILABLE)
/// This thread's copies become visible to wgmma (the async proxy).
__device__ inline void fenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

__device__ inline void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ inline void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

__device__ inline void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
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
    groupedMatmulWgmma(Grouped16<Element> p) {
#ifdef MOE_WGMMA_AVAILABLE
  const Element *rows = p.rows, *weights = p.weights;
  const int64_t kDim = p.kDim, mDim = p.mDim, outCols = p.outCols;
  int expert;
  int64_t rowBegin, rowEnd;
  if (!locateTile(p.offsets, p.numExperts, kWgmmaTileM, blockIdx.x, expert,
                  rowBegin, rowEnd))
    return;
  int64_t col0 = int64_t(blockIdx.y) * blockOutputCols(Gated);
  const Element *w = weights + int64_t(expert) * kDim * mDim;
  MOE_DYNAMIC_SHARED(shared, 16);
  uint32_t base = sharedAddress(shared);
  uint32_t tiles = (base + kWgmmaAtomBytes - 1) & ~uint32_t(kWgmmaAtomBytes - 1);
  uint32_t aTiles = tiles, bTiles = tiles + kStages * kTileBytes;

  auto load = [&](int stage, int64_t kt) {
    int64_t k0 = kt * kWgmmaTileK;
    uint32_t a = aTiles + stage * kTileBytes, b = bTiles + stage * kTileBytes;
    for (int i = threadIdx.x; i < kWgmmaTileM * (kWgmmaTileK / 8);
         i += kWgmmaThreads) {
      int row = i / (kWgmmaTileK / 8), k = (i % (kWgmmaTileK / 8)) * 8;
      int64_t r = rowBegin + row;
      bool valid = r < rowEnd && k0 + k < kDim;
      copy16(a + wgmmaAOffset(row, k), valid ? rows + r * kDim + k0 + k : rows,
             valid);
    }
    for (int i = threadIdx.x; i < kWgmmaTileK * (kWgmmaTileN / 8);
         i += kWgmmaThreads) {
      int k = i / (kWgmmaTileN / 8), col = (i % (kWgmmaTileN / 8)) * 8;
      bool valid = k0 + k < kDim && outputColumn(col0, col, Gated) < outCols;
      copy16(b + wgmmaBOffset(k, col),
             valid ? w + (k0 + k) * mDim +
                         weightColumn(col0, col, Gated, outCols)
                   : weights,
             valid);
    }
  };

  int warpgroup = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32,
      lane = threadIdx.x % 32;
  float d[64] = {};
  int64_t kTiles = (kDim + kWgmmaTileK - 1) / kWgmmaTileK;
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < kTiles)
      load(s, s);
    commitCopies();
  }
  for (int64_t kt = 0; kt < kTiles; ++kt) {
    waitCopies<kStages - 2>();
    // This thread's copies become visible to wgmma (the async proxy),
    // then everyone's; the stage wgmma read last step is free again.
    fenceProxyAsync();
    __syncthreads();
    if (kt + kStages - 1 < kTiles)
      load(int((kt + kStages - 1) % kStages), kt + kStages - 1);
    commitCopies();
    uint32_t a = aTiles + (kt % kStages) * kTileBytes,
             b = bTiles + (kt % kStages) * kTileBytes;
    wgmmaFence();
#pragma unroll
    for (int kStep = 0; kStep < kWgmmaTileK / 16; ++kStep)
      wgmma64x128<Element>(d, wgmmaADescriptor(a, warpgroup, kStep),
                           wgmmaBDescriptor(b, kStep));
    wgmmaCommit();
    wgmmaWait();
  }
  waitCopies<0>();

  const float *b = p.bias ? p.bias + int64_t(expert) * mDim : nullptr;
  constexpr int outRegs = Gated ? 32 : 64; // gate i pairs with up i + 32
#pragma unroll
  for (int i = 0; i < outRegs; ++i) {
    int64_t row = rowBegin + warpgroup * 64 + wgmmaAccRow(warp, lane, i);
    int64_t col = col0 + wgmmaAccCol(lane, i);
    if (row < rowEnd && col < outCols)
      storeOutput(p.out, outCols, row, col, d[i], Gated ? d[i + 32] : 0.0f, b,
                  outCols, p.act, Gated, p.rounded);
  }
#endif
}

template <typename Element, bool Gated>
moe_status launch(cudaStream_t stream, const Grouped16<Element> &p) {
  auto kernel = groupedMatmulWgmma<Element, Gated>;
  MOE_TRY(allowDynamicSharedMemory(reinterpret_cast<const void *>(kernel),
                                   kSharedBytes));
  int64_t rowTiles = maxRowTiles(p.numRows, p.numExperts, kWgmmaTileM);
  int64_t colTiles =
      (p.outCols + blockOutputCols(Gated) - 1) / blockOutputCols(Gated);
  if (rowTiles > INT32_MAX || colTiles > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  dim3 grid{unsigned(rowTiles), unsigned(colTiles)};
  MOE_LAUNCH(grid, kWgmmaThreads, kSharedBytes, stream, kernel)(p);
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
