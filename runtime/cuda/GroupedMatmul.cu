//===- GroupedMatmul.cu - Grouped matmul with fused epilogues on CUDA -----===//
//
// One launch for all experts: blockIdx.x picks a tile of output columns,
// blockIdx.y a tile of rows inside one expert's segment (found by walking
// the per-expert tile counts from `offsets`, so segments are padded to
// whole tiles by index, never by copying rows). The grid's y extent is the
// host-side bound moe_cuda_max_row_tiles; blocks past the last tile exit.
// Gated activations load the gate and up columns of the same output tile
// and apply act(gate, up) in the epilogue, with the bias.
//
// fp32: SIMT, 64 x 64 tiles, 4 x 4 outputs per thread. bf16 and fp16: the
// pipelined mma.sync kernel (GroupedMatmulMma.cu) where sizes are
// multiples of 8, else WMMA 16 x 16 x 16 fragments (tensor cores, sm_80+),
// fp32 accumulation, a 64 x 64 tile per 4 warps, unpipelined.
//
//===----------------------------------------------------------------------===//

#include "Activation.cuh"
#include "CudaSupport.h"
#include "GroupedMatmul.h"
#include "IndexMath.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <type_traits>

using namespace moe::runtime;
using namespace moe::runtime::cuda;

namespace {

constexpr int kTileRows = 64, kTileCols = 64, kTileK = 16;

template <bool Gated>
__global__ void groupedMatmulF32(const float *rows, int64_t kDim,
                                 const float *weights, int numExperts,
                                 int64_t mDim, int64_t outCols,
                                 const int32_t *offsets, const float *bias,
                                 moe_activation_params act, float *out) {
  int expert;
  int64_t rowBegin, rowEnd;
  if (!tiles::locateTile(offsets, numExperts, kTileRows, blockIdx.y, expert,
                         rowBegin, rowEnd))
    return;
  int64_t col0 = int64_t(blockIdx.x) * kTileCols;
  const float *w = weights + expert * kDim * mDim;
  __shared__ float a[kTileK][kTileRows];
  __shared__ float bGate[kTileK][kTileCols];
  __shared__ float bUp[Gated ? kTileK : 1][Gated ? kTileCols : 1];
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float gate[4][4] = {}, up[4][4] = {};
  for (int64_t k0 = 0; k0 < kDim; k0 += kTileK) {
    for (int i = threadIdx.x; i < kTileRows * kTileK; i += blockDim.x) {
      int r = i / kTileK, kk = i % kTileK;
      int64_t row = rowBegin + r;
      a[kk][r] = row < rowEnd && k0 + kk < kDim ? rows[row * kDim + k0 + kk]
                                                : 0.0f;
    }
    for (int i = threadIdx.x; i < kTileK * kTileCols; i += blockDim.x) {
      int kk = i / kTileCols, c = i % kTileCols;
      bool inside = k0 + kk < kDim && col0 + c < outCols;
      const float *wk = w + (k0 + kk) * mDim;
      bGate[kk][c] = inside ? wk[col0 + c] : 0.0f;
      if constexpr (Gated)
        bUp[kk][c] = inside ? wk[outCols + col0 + c] : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], bg[4], bu[4];
      for (int i = 0; i < 4; ++i) {
        av[i] = a[kk][ty * 4 + i];
        bg[i] = bGate[kk][tx * 4 + i];
        if constexpr (Gated)
          bu[i] = bUp[kk][tx * 4 + i];
      }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          gate[i][j] += av[i] * bg[j];
          if constexpr (Gated)
            up[i][j] += av[i] * bu[j];
        }
    }
    __syncthreads();
  }
  const float *b = bias ? bias + expert * mDim : nullptr;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      int64_t row = rowBegin + ty * 4 + i, col = col0 + tx * 4 + j;
      if (row < rowEnd && col < outCols)
        storeOutput(out, outCols, row, col, gate[i][j], up[i][j], b, outCols,
                    act, Gated);
    }
}

namespace wmma = nvcuda::wmma;

template <typename Element, bool Gated>
__global__ void
groupedMatmulWmma(const Element *rows, int64_t kDim, const Element *weights,
                  int numExperts, int64_t mDim, int64_t outCols,
                  const int32_t *offsets, const float *bias,
                  moe_activation_params act, float *out, Element *rounded) {
#if MOE_CUDA_ARCH_AT_LEAST(800)
  int expert;
  int64_t rowBegin, rowEnd;
  if (!tiles::locateTile(offsets, numExperts, kTileRows, blockIdx.y, expert,
                         rowBegin, rowEnd))
    return;
  int64_t col0 = int64_t(blockIdx.x) * kTileCols;
  const Element *w = weights + expert * kDim * mDim;
  // WMMA loads and stores want 32-byte aligned tiles.
  __shared__ __align__(32) Element a[kTileRows][kTileK];
  __shared__ __align__(32) Element bGate[kTileK][kTileCols];
  __shared__ __align__(32) Element bUp[Gated ? kTileK : 1]
                                           [Gated ? kTileCols : 1];
  __shared__ __align__(32) float zGate[kTileRows][kTileCols];
  __shared__ __align__(32) float zUp[Gated ? kTileRows : 1]
                                    [Gated ? kTileCols : 1];
  // 4 warps in 2 x 2; each owns 32 x 32 outputs = 2 x 2 fragments.
  int warp = threadIdx.x / 32, warpRow = warp / 2, warpCol = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> accGate[2][2],
      accUp[2][2];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      wmma::fill_fragment(accGate[i][j], 0.0f);
      wmma::fill_fragment(accUp[i][j], 0.0f);
    }
  const Element zero = Element(0.0f);
  for (int64_t k0 = 0; k0 < kDim; k0 += kTileK) {
    for (int i = threadIdx.x; i < kTileRows * kTileK; i += blockDim.x) {
      int r = i / kTileK, kk = i % kTileK;
      int64_t row = rowBegin + r;
      a[r][kk] = row < rowEnd && k0 + kk < kDim ? rows[row * kDim + k0 + kk]
                                                : zero;
    }
    for (int i = threadIdx.x; i < kTileK * kTileCols; i += blockDim.x) {
      int kk = i / kTileCols, c = i % kTileCols;
      bool inside = k0 + kk < kDim && col0 + c < outCols;
      const Element *wk = w + (k0 + kk) * mDim;
      bGate[kk][c] = inside ? wk[col0 + c] : zero;
      if constexpr (Gated)
        bUp[kk][c] = inside ? wk[outCols + col0 + c] : zero;
    }
    __syncthreads();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, Element, wmma::row_major>
        fa[2];
    wmma::fragment<wmma::matrix_b, 16, 16, 16, Element, wmma::row_major>
        fb;
    for (int i = 0; i < 2; ++i)
      wmma::load_matrix_sync(fa[i], &a[warpRow * 32 + i * 16][0], kTileK);
    for (int j = 0; j < 2; ++j) {
      wmma::load_matrix_sync(fb, &bGate[0][warpCol * 32 + j * 16], kTileCols);
      for (int i = 0; i < 2; ++i)
        wmma::mma_sync(accGate[i][j], fa[i], fb, accGate[i][j]);
      if constexpr (Gated) {
        wmma::load_matrix_sync(fb, &bUp[0][warpCol * 32 + j * 16], kTileCols);
        for (int i = 0; i < 2; ++i)
          wmma::mma_sync(accUp[i][j], fa[i], fb, accUp[i][j]);
      }
    }
    __syncthreads();
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      int r = warpRow * 32 + i * 16, c = warpCol * 32 + j * 16;
      wmma::store_matrix_sync(&zGate[r][c], accGate[i][j], kTileCols,
                              wmma::mem_row_major);
      if constexpr (Gated)
        wmma::store_matrix_sync(&zUp[r][c], accUp[i][j], kTileCols,
                                wmma::mem_row_major);
    }
  __syncthreads();
  const float *b = bias ? bias + expert * mDim : nullptr;
  for (int i = threadIdx.x; i < kTileRows * kTileCols; i += blockDim.x) {
    int r = i / kTileCols, c = i % kTileCols;
    int64_t row = rowBegin + r, col = col0 + c;
    if (row < rowEnd && col < outCols)
      storeOutput(out, outCols, row, col, zGate[r][c], Gated ? zUp[r][c] : 0.0f,
                  b, outCols, act, Gated, rounded);
  }
#endif
}

/// Checks and launches one of the kernels: `launch` gets the grid of the
/// 64 x 64 kernels and std::true_type or std::false_type for a gated
/// activation (the kernels' template argument), and returns a status.
template <typename Element, typename Launch>
moe_status launchGrouped(void *stream, const Element *rows, int64_t numRows,
                         int64_t kDim, const Element *weights,
                         int64_t numExperts, int64_t mDim,
                         const int32_t *offsets, const float *bias,
                         const moe_activation_params *activation, float *out,
                         Launch launch) {
  moe_activation_params act = activation ? *activation
                                         : moe_activation_params{0, 0, 0, 0};
  if (!validGroupedMatmul(numRows, kDim, weights, numExperts, mDim, offsets,
                          rows, out, act) ||
      numExperts > INT32_MAX)
    return MOE_ERROR_INVALID_ARGUMENT;
  bool gated = isGatedActivation(act.kind);
  int64_t outCols = gated ? mDim / 2 : mDim;
  int64_t rowTiles = moe_cuda_max_row_tiles(numRows, numExperts, kTileRows);
  if (numRows == 0 || outCols == 0)
    return MOE_OK;
  if (rowTiles > 65535) // the grid's y extent
    return MOE_ERROR_INVALID_ARGUMENT;
  dim3 grid(unsigned((outCols + kTileCols - 1) / kTileCols),
            unsigned(rowTiles));
  cudaStream_t s = asStream(stream);
  return gated ? launch(grid, s, act, std::true_type{}, outCols)
               : launch(grid, s, act, std::false_type{}, outCols);
}


} // namespace

extern "C" int64_t moe_cuda_max_row_tiles(int64_t numRows, int64_t numExperts,
                                          int64_t tileRows) {
  return tiles::maxRowTiles(numRows, numExperts, tileRows);
}

extern "C" moe_status moe_cuda_grouped_matmul_f32(
    void *stream, const float *rows, int64_t numRows, int64_t kDim,
    const float *weights, int64_t numExperts, int64_t mDim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out) {
  return launchGrouped(
      stream, rows, numRows, kDim, weights, numExperts, mDim, offsets, bias,
      activation, out,
      [&](dim3 grid, cudaStream_t s, const moe_activation_params &act,
          auto gated, int64_t outCols) {
        MOE_LAUNCH(grid, 256, 0, s, groupedMatmulF32<decltype(gated)::value>)
        (rows, kDim, weights, int(numExperts), mDim, outCols, offsets, bias,
         act, out);
        return launched();
      });
}

/// The 16-bit grouped matmuls: mma.sync where it applies, else WMMA.
template <typename Element>
moe_status moe::runtime::cuda::groupedMatmul16(
    cudaStream_t stream, const Element *r, int64_t numRows, int64_t kDim,
    const Element *w, int64_t numExperts, int64_t mDim, const int32_t *offsets,
    const float *bias, const moe_activation_params *activation, float *out,
    Element *rounded) {
  // The checks want an output; `rounded` stands in for it.
  float *anyOut = out ? out : reinterpret_cast<float *>(rounded);
  return launchGrouped(
      stream, r, numRows, kDim, w, numExperts, mDim, offsets, bias, activation,
      anyOut,
      [&](dim3 grid, cudaStream_t s, const moe_activation_params &act,
          auto gated, int64_t outCols) {
        GroupedMatmulKernel choice = groupedMatmulKernel();
        if (choice != GroupedMatmulKernel::Wmma &&
            mmaGroupedMatmulApplies(r, kDim, w, mDim, outCols)) {
          Grouped16<Element> operands{
              r,     numRows, kDim,    w,    int(numExperts),
              mDim,  outCols, offsets, bias, act,
              gated, out,     rounded};
          return choice == GroupedMatmulKernel::Wgmma && wgmmaAvailable() &&
                         tiles::wgmmaTakes(numRows, numExperts)
                     ? launchWgmmaGroupedMatmul(s, operands)
                     : launchMmaGroupedMatmul(s, operands);
        }
        MOE_LAUNCH(grid, 128, 0, s,
                   groupedMatmulWmma<Element, decltype(gated)::value>)
        (r, kDim, w, int(numExperts), mDim, outCols, offsets, bias, act, out,
         rounded);
        return launched();
      });
}

template moe_status moe::runtime::cuda::groupedMatmul16(
    cudaStream_t, const __nv_bfloat16 *, int64_t, int64_t,
    const __nv_bfloat16 *, int64_t, int64_t, const int32_t *, const float *,
    const moe_activation_params *, float *, __nv_bfloat16 *);
template moe_status moe::runtime::cuda::groupedMatmul16(
    cudaStream_t, const __half *, int64_t, int64_t, const __half *, int64_t,
    int64_t, const int32_t *, const float *, const moe_activation_params *,
    float *, __half *);

extern "C" moe_status moe_cuda_grouped_matmul_bf16(
    void *stream, const uint16_t *rows, int64_t numRows, int64_t kDim,
    const uint16_t *weights, int64_t numExperts, int64_t mDim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out) {
  return groupedMatmul16(
      asStream(stream), reinterpret_cast<const __nv_bfloat16 *>(rows), numRows,
      kDim, reinterpret_cast<const __nv_bfloat16 *>(weights), numExperts, mDim,
      offsets, bias, activation, out, static_cast<__nv_bfloat16 *>(nullptr));
}

extern "C" moe_status moe_cuda_grouped_matmul_f16(
    void *stream, const uint16_t *rows, int64_t numRows, int64_t kDim,
    const uint16_t *weights, int64_t numExperts, int64_t mDim,
    const int32_t *offsets, const float *bias,
    const moe_activation_params *activation, float *out) {
  return groupedMatmul16(
      asStream(stream), reinterpret_cast<const __half *>(rows), numRows, kDim,
      reinterpret_cast<const __half *>(weights), numExperts, mDim, offsets,
      bias, activation, out, static_cast<__half *>(nullptr));
}
