//===- GroupedMatmulMma.cu - bf16 grouped matmul on mma.sync ------------===//
//
// The bf16 grouped matmul for sizes in multiples of 8 (every real model):
// mma.sync m16n8k16 (bf16 in, fp32 accumulation; sm_80 and later, also
// the Hopper path until a wgmma kernel exists), operands staged by
// cp.async through a 4-stage shared-memory pipeline (k 32 per stage) and
// read with ldmatrix from XOR-swizzled tiles; rows past a segment's end and
// k or columns past the matrix are zero-filled by the copy, so segments
// are padded by index, never by copying rows. The index math is in
// GroupedMatmulTiles.h (tested on the host).
//
// blockIdx.x walks row tiles (expert segments cut into kBlockM rows),
// blockIdx.y 128 weight columns (64 output columns of a gated activation:
// gate and up side by side). Three block shapes, picked by the mean rows
// per expert: 16 rows for decode (1-2 rows per expert would leave a
// 128-row tile's tensor-core work mostly on zero rows), 64 and 128.
//
//===----------------------------------------------------------------------===//

#include "Activation.cuh"
#include "CudaSupport.h"
#include "GroupedMatmul.h"
#include "GroupedMatmulTiles.h"

#include <cuda_bf16.h>

using namespace moe::runtime;
using namespace moe::runtime::cuda;
using namespace moe::runtime::cuda::tiles;

namespace {

constexpr int kStages = 4;

__device__ inline uint32_t sharedAddress(const void *p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/// 16 bytes from global to shared memory, asynchronously; zeros when
/// !valid (src-size 0: nothing is read).
__device__ inline void copy16(void *dst, const void *src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(
                   sharedAddress(dst)),
               "l"(src), "r"(valid ? 16 : 0));
}

__device__ inline void commitCopies() {
  asm volatile("cp.async.commit_group;\n" ::);
}

template <int Pending> __device__ inline void waitCopies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

__device__ inline void ldmatrixX4(uint32_t (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, "
               "[%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

__device__ inline void ldmatrixX4Trans(uint32_t (&r)[4], const void *p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, "
               "%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(sharedAddress(p)));
}

/// acc += a (16 x 16, row-major fragment) * b (16 x 8, column-major).
__device__ inline void mma16816(float (&acc)[4], const uint32_t (&a)[4],
                                uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                 "r"(b1));
}

template <typename Shape>
constexpr int kSharedBytes =
    kStages * (Shape::kAElements + Shape::kBElements) *
    int(sizeof(__nv_bfloat16));

template <typename Shape, bool Gated>
__global__ void __launch_bounds__(kMmaThreads)
    groupedMatmulMma(const __nv_bfloat16 *rows, int64_t kDim,
                     const __nv_bfloat16 *weights, int numExperts,
                     int64_t mDim, int64_t outCols, const int32_t *offsets,
                     const float *bias, moe_activation_params act,
                     float *out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  int expert;
  int64_t rowBegin, rowEnd;
  if (!locateTile(offsets, numExperts, Shape::kBlockM, blockIdx.x, expert,
                  rowBegin, rowEnd))
    return;
  int64_t col0 = int64_t(blockIdx.y) * blockOutputCols(Gated);
  const __nv_bfloat16 *w = weights + int64_t(expert) * kDim * mDim;
  extern __shared__ __align__(128) unsigned char shared[];
  auto *aTiles = reinterpret_cast<__nv_bfloat16 *>(shared);
  auto *bTiles = aTiles + kStages * Shape::kAElements;

  // Stage `stage` <- k tile `kt` of the rows and the weights.
  auto load = [&](int stage, int64_t kt) {
    int64_t k0 = kt * kMmaTileK;
    __nv_bfloat16 *a = aTiles + stage * Shape::kAElements;
    for (int i = threadIdx.x; i < Shape::kBlockM * kAChunksPerRow;
         i += kMmaThreads) {
      int row = i / kAChunksPerRow, chunk = i % kAChunksPerRow;
      int64_t r = rowBegin + row, k = k0 + chunk * kChunk;
      bool valid = r < rowEnd && k < kDim;
      copy16(a + aOffset(row, chunk), valid ? rows + r * kDim + k : rows,
             valid);
    }
    __nv_bfloat16 *b = bTiles + stage * Shape::kBElements;
    for (int i = threadIdx.x; i < kMmaTileK * kBChunksPerRow;
         i += kMmaThreads) {
      int kk = i / kBChunksPerRow, col = (i % kBChunksPerRow) * kChunk;
      int64_t k = k0 + kk;
      int64_t outCol = col0 + (Gated ? col % (kMmaTileN / 2) : col);
      bool valid = k < kDim && outCol < outCols;
      copy16(b + bOffset(kk, col / kChunk),
             valid ? w + k * mDim + weightColumn(col0, col, Gated, outCols)
                   : weights,
             valid);
    }
  };

  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int warpRow = warp / Shape::kWarpsN, warpCol = warp % Shape::kWarpsN;
  float acc[Shape::kMTiles][Shape::kNTiles][4] = {};
  int64_t kTiles = (kDim + kMmaTileK - 1) / kMmaTileK;
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < kTiles)
      load(s, s);
    commitCopies(); // empty groups keep the count the wait below assumes
  }
  for (int64_t kt = 0; kt < kTiles; ++kt) {
    waitCopies<kStages - 2>(); // tile kt has landed (for this thread)
    __syncthreads();           // ... for all; and kt - 1 is consumed
    if (kt + kStages - 1 < kTiles)
      load(int((kt + kStages - 1) % kStages), kt + kStages - 1);
    commitCopies();
    const __nv_bfloat16 *a = aTiles + (kt % kStages) * Shape::kAElements;
    const __nv_bfloat16 *b = bTiles + (kt % kStages) * Shape::kBElements;
#pragma unroll
    for (int kStep = 0; kStep < kMmaTileK / 16; ++kStep) {
      uint32_t af[Shape::kMTiles][4], bf[Shape::kNTiles][2];
#pragma unroll
      for (int mi = 0; mi < Shape::kMTiles; ++mi)
        ldmatrixX4(af[mi],
                   a + aLdmatrixOffset<Shape>(lane, warpRow, mi, kStep));
#pragma unroll
      for (int pair = 0; pair < Shape::kNTiles / 2; ++pair) {
        uint32_t r[4];
        ldmatrixX4Trans(r, b + bLdmatrixOffset<Shape>(lane, warpCol, pair,
                                                      kStep, Gated));
        bf[2 * pair][0] = r[0];
        bf[2 * pair][1] = r[1];
        bf[2 * pair + 1][0] = r[2];
        bf[2 * pair + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < Shape::kMTiles; ++mi)
#pragma unroll
        for (int nj = 0; nj < Shape::kNTiles; ++nj)
          mma16816(acc[mi][nj], af[mi], bf[nj][0], bf[nj][1]);
    }
  }
  waitCopies<0>();

  // Accumulator element (2h + c) of lane (g, t) is row g + 8h, column
  // 2t + c of the 16 x 8 tile; a gated activation's up value sits in the
  // same element of tile nj + kNTiles / 2.
  constexpr int outTiles = Gated ? Shape::kNTiles / 2 : Shape::kNTiles;
  const float *b = bias ? bias + int64_t(expert) * mDim : nullptr;
  int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int mi = 0; mi < Shape::kMTiles; ++mi)
#pragma unroll
    for (int nj = 0; nj < outTiles; ++nj)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int64_t row =
            rowBegin + warpRow * Shape::kMTiles * 16 + mi * 16 + g + 8 * (e / 2);
        int64_t col =
            col0 + nTileColumn<Shape>(warpCol, nj, Gated) + 2 * t + e % 2;
        if (row < rowEnd && col < outCols)
          storeOutput(out, outCols, row, col, acc[mi][nj][e],
                      Gated ? acc[mi][nj + outTiles][e] : 0.0f, b, outCols,
                      act, Gated);
      }
#endif
}

template <typename Shape, bool Gated>
moe_status launchShape(cudaStream_t stream, const __nv_bfloat16 *rows,
                       int64_t numRows, int64_t kDim,
                       const __nv_bfloat16 *weights, int numExperts,
                       int64_t mDim, int64_t outCols, const int32_t *offsets,
                       const float *bias, const moe_activation_params &act,
                       float *out) {
  auto kernel = groupedMatmulMma<Shape, Gated>;
  constexpr int bytes = kSharedBytes<Shape>;
  // Over 48 KiB of dynamic shared memory must be asked for.
  cudaError_t error = cudaFuncSetAttribute(
      kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (error != cudaSuccess)
    return deviceError(error);
  int64_t rowTiles = moe_cuda_max_row_tiles(numRows, numExperts,
                                            Shape::kBlockM);
  int64_t colTiles = (outCols + blockOutputCols(Gated) - 1) /
                     blockOutputCols(Gated);
  if (rowTiles > INT32_MAX || colTiles > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  dim3 grid{unsigned(rowTiles), unsigned(colTiles)};
  kernel<<<grid, kMmaThreads, bytes, stream>>>(rows, kDim, weights,
                                               numExperts, mDim, outCols,
                                               offsets, bias, act, out);
  return launched();
}

template <bool Gated>
moe_status launchGated(cudaStream_t stream, const __nv_bfloat16 *rows,
                       int64_t numRows, int64_t kDim,
                       const __nv_bfloat16 *weights, int numExperts,
                       int64_t mDim, int64_t outCols, const int32_t *offsets,
                       const float *bias, const moe_activation_params &act,
                       float *out) {
  int64_t rowsPerExpert = numRows / numExperts;
  if (rowsPerExpert <= 24)
    return launchShape<MmaShape<1, 1>, Gated>(stream, rows, numRows, kDim,
                                              weights, numExperts, mDim,
                                              outCols, offsets, bias, act,
                                              out);
  if (rowsPerExpert <= 96)
    return launchShape<MmaShape<2, 2>, Gated>(stream, rows, numRows, kDim,
                                              weights, numExperts, mDim,
                                              outCols, offsets, bias, act,
                                              out);
  return launchShape<MmaShape<2, 4>, Gated>(stream, rows, numRows, kDim,
                                            weights, numExperts, mDim,
                                            outCols, offsets, bias, act, out);
}

bool aligned16(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

} // namespace

bool moe::runtime::cuda::mmaGroupedMatmulApplies(const void *rows,
                                                 int64_t kDim,
                                                 const void *weights,
                                                 int64_t mDim,
                                                 int64_t outCols) {
  return kDim % kChunk == 0 && mDim % kChunk == 0 && outCols % kChunk == 0 &&
         aligned16(rows) && aligned16(weights);
}

moe_status moe::runtime::cuda::launchMmaGroupedMatmul(
    cudaStream_t stream, const __nv_bfloat16 *rows, int64_t numRows,
    int64_t kDim, const __nv_bfloat16 *weights, int numExperts, int64_t mDim,
    int64_t outCols, const int32_t *offsets, const float *bias,
    const moe_activation_params &act, bool gated, float *out) {
  return gated ? launchGated<true>(stream, rows, numRows, kDim, weights,
                                   numExperts, mDim, outCols, offsets, bias,
                                   act, out)
               : launchGated<false>(stream, rows, numRows, kDim, weights,
                                    numExperts, mDim, outCols, offsets, bias,
                                    act, out);
}
