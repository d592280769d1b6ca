//===- GroupedMatmulMma.cu - bf16/fp16 grouped matmul on mma.sync -------===//
//
// The bf16 and fp16 grouped matmuls for sizes in multiples of 8 (every
// real model): mma.sync m16n8k16 (16-bit in, fp32 accumulation; sm_80
// and later; also Hopper's default until the wgmma kernel is timed), operands
// staged by cp.async through a 4-stage shared-memory pipeline (k 32 per
// stage) and read with ldmatrix from XOR-swizzled tiles; rows past a
// segment's end and k or columns past the matrix are zero-filled by the
// copy, so segments are padded by index, never by copying rows. The index math
// is in IndexMath.h (tested on the host).
//
// blockIdx.x walks row tiles (expert segments cut into kBlockM rows),
// blockIdx.y 128 weight columns (64 output columns of a gated activation:
// gate and up side by side). Three block shapes, picked by the mean rows
// per expert: 16 rows for decode (1-2 rows per expert would leave a
// 128-row tile's tensor-core work mostly on zero rows), 64 and 128.
// A launch of fewer tiles than two per multiprocessor (decode: the down
// projection has a handful of column tiles, each a whole [K, 128] slice of
// weights to stream) splits K over blockIdx.z (tiles::splitK), so that
// every SM streams weights; the splits write raw partial sums, which the
// last split of each tile to arrive adds up with bias and activation (on
// the per-thread stream compiled models use: one launch) or a second
// kernel, finishSplits, does (other streams, whose launches may overlap
// on the tile counters).
//
//===----------------------------------------------------------------------===//

#include "Activation.cuh"
#include "AsyncCopy.cuh"
#include "CudaSupport.h"
#include "GroupedMatmul.h"
#include "IndexMath.h"
#include "Mma.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

using namespace moe::runtime;
using namespace moe::runtime::cuda;
using namespace moe::runtime::cuda::tiles;

namespace {

constexpr int kStages = 4;

template <typename Shape>
constexpr int kSharedBytes =
    kStages * (Shape::kAElements + Shape::kBElements) * 2; // 16-bit elements

/// One launch's operands. With kSplit > 1 (split-K), block z of a tile
/// sums k tiles [z * kTilesPerSplit, (z + 1) * kTilesPerSplit) into
/// partials [kSplit, numRows, mDim] (raw, every weight column); with
/// tileCounters (zeroed, one per tile) the tile's last block to arrive adds
/// them up with the bias and activation, else finishSplits does.
template <typename Element> struct MmaArgs : Grouped16<Element> {
  int kSplit;
  int64_t kTilesPerSplit;
  float *partials;
  int *tileCounters;
};

/// out[row, col] = act(the splits' partial sums, in split order, + bias of
/// `expert`): split-K's finish, in the last block or in finishSplits. The
/// partials are read past L1 (another SM wrote them).
template <typename Element, bool Gated>
__device__ void finishOutput(const MmaArgs<Element> &p, int64_t row,
                             int64_t col, int expert) {
  float gate = 0.0f, up = 0.0f;
  for (int z = 0; z < p.kSplit; ++z) {
    const float *partial = p.partials + (z * p.numRows + row) * p.mDim;
    gate += __ldcg(partial + col);
    if (Gated)
      up += __ldcg(partial + p.outCols + col);
  }
  const float *b = p.bias ? p.bias + int64_t(expert) * p.mDim : nullptr;
  storeOutput(p.out, p.outCols, row, col, gate, up, b, p.outCols, p.act, Gated,
              p.rounded);
}

template <typename Element, typename Shape, bool Gated>
__global__ void __launch_bounds__(kMmaThreads)
    groupedMatmulMma(MmaArgs<Element> p) {
#if MOE_CUDA_ARCH_AT_LEAST(800)
  int expert;
  int64_t rowBegin, rowEnd;
  if (!locateTile(p.offsets, p.numExperts, Shape::kBlockM, blockIdx.x,
                  expert, rowBegin, rowEnd))
    return;
  int64_t col0 = int64_t(blockIdx.y) * blockOutputCols(Gated);
  const int64_t kDim = p.kDim, mDim = p.mDim, outCols = p.outCols;
  const Element *w = p.weights + int64_t(expert) * kDim * mDim;
  MOE_DYNAMIC_SHARED(shared, 128);
  auto *aTiles = reinterpret_cast<Element *>(shared);
  auto *bTiles = aTiles + kStages * Shape::kAElements;

  // Stage `stage` <- k tile `kt` of the rows and the weights.
  auto load = [&](int stage, int64_t kt) {
    int64_t k0 = kt * kMmaTileK;
    Element *a = aTiles + stage * Shape::kAElements;
    for (int i = threadIdx.x; i < Shape::kBlockM * kAChunksPerRow;
         i += kMmaThreads) {
      int row = i / kAChunksPerRow, chunk = i % kAChunksPerRow;
      int64_t r = rowBegin + row, k = k0 + chunk * kChunk;
      bool valid = r < rowEnd && k < kDim;
      copy16(a + aOffset(row, chunk), valid ? p.rows + r * kDim + k : p.rows,
             valid);
    }
    Element *b = bTiles + stage * Shape::kBElements;
    for (int i = threadIdx.x; i < kMmaTileK * kBChunksPerRow;
         i += kMmaThreads) {
      int kk = i / kBChunksPerRow, col = (i % kBChunksPerRow) * kChunk;
      int64_t k = k0 + kk;
      bool valid = k < kDim && outputColumn(col0, col, Gated) < outCols;
      copy16(b + bOffset(kk, col / kChunk),
             valid ? w + k * mDim + weightColumn(col0, col, Gated, outCols)
                   : p.weights,
             valid);
    }
  };

  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int warpRow = warp / Shape::kWarpsN, warpCol = warp % Shape::kWarpsN;
  float acc[Shape::kMTiles][Shape::kNTiles][4] = {};
  int64_t allTiles = (kDim + kMmaTileK - 1) / kMmaTileK;
  int64_t firstTile = int64_t(blockIdx.z) * p.kTilesPerSplit;
  int64_t kTiles = min(allTiles - firstTile, p.kTilesPerSplit);
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < kTiles)
      load(s, firstTile + s);
    commitCopies(); // empty groups keep the count the wait below assumes
  }
  for (int64_t kt = 0; kt < kTiles; ++kt) {
    waitCopies<kStages - 2>(); // tile kt has landed (for this thread)
    __syncthreads();           // ... for all; and kt - 1 is consumed
    if (kt + kStages - 1 < kTiles)
      load(int((kt + kStages - 1) % kStages), firstTile + kt + kStages - 1);
    commitCopies();
    const Element *a = aTiles + (kt % kStages) * Shape::kAElements;
    const Element *b = bTiles + (kt % kStages) * Shape::kBElements;
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
          mma16816<Element>(acc[mi][nj], af[mi], bf[nj][0], bf[nj][1]);
    }
  }
  waitCopies<0>();

  // A gated activation's up value sits in the same accumulator element of
  // n8 tile nj + kNTiles / 2 as its gate value in tile nj.
  if (p.kSplit > 1) {
    // Raw sums for finishSplits, every weight column (gate and up) at its
    // place in [numRows, mDim]; all splits write, even an empty one.
    float *partial = p.partials + int64_t(blockIdx.z) * p.numRows * mDim;
#pragma unroll
    for (int mi = 0; mi < Shape::kMTiles; ++mi)
#pragma unroll
      for (int nj = 0; nj < Shape::kNTiles; ++nj)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int64_t row =
              rowBegin + accumulatorRow<Shape>(warpRow, lane, mi, e);
          int col = accumulatorColumn<Shape>(warpCol, lane, nj, e, Gated);
          if (row < rowEnd && outputColumn(col0, col, Gated) < outCols)
            partial[row * mDim + weightColumn(col0, col, Gated, outCols)] =
                acc[mi][nj][e];
        }
    if (!p.tileCounters)
      return; // finishSplits adds them up
    // The tile's last split to arrive finishes it: this block's partials
    // are made visible before its arrival is counted, and the last block
    // reads the others' after seeing all arrivals (the CUDA guide's
    // __threadfence pattern). It resets the counter for the stream's next
    // launch.
    __shared__ bool lastSplit;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
      int *counter =
          p.tileCounters + int64_t(blockIdx.y) * gridDim.x + blockIdx.x;
      lastSplit = atomicAdd(counter, 1) == p.kSplit - 1;
      if (lastSplit)
        *counter = 0;
    }
    __syncthreads();
    if (!lastSplit)
      return;
    __threadfence();
    constexpr int cols = blockOutputCols(Gated);
    for (int64_t i = threadIdx.x; i < (rowEnd - rowBegin) * cols;
         i += kMmaThreads) {
      int64_t row = rowBegin + i / cols, col = col0 + i % cols;
      if (col < outCols)
        finishOutput<Element, Gated>(p, row, col, expert);
    }
    return;
  }
  constexpr int outTiles = Gated ? Shape::kNTiles / 2 : Shape::kNTiles;
  const float *b = p.bias ? p.bias + int64_t(expert) * mDim : nullptr;
#pragma unroll
  for (int mi = 0; mi < Shape::kMTiles; ++mi)
#pragma unroll
    for (int nj = 0; nj < outTiles; ++nj)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int64_t row = rowBegin + accumulatorRow<Shape>(warpRow, lane, mi, e);
        int64_t col = outputColumn(
            col0, accumulatorColumn<Shape>(warpCol, lane, nj, e, Gated), Gated);
        if (row < rowEnd && col < outCols)
          storeOutput(p.out, outCols, row, col, acc[mi][nj][e],
                      Gated ? acc[mi][nj + outTiles][e] : 0.0f, b, outCols,
                      p.act, Gated, p.rounded);
      }
#endif
}

/// Split-K's second step on streams without tile counters: one thread
/// per output (the expert of a row, for its bias, by binary search over
/// the offsets).
template <typename Element, bool Gated>
__global__ void finishSplits(MmaArgs<Element> p) {
  int64_t count = p.numRows * p.outCols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = i / p.outCols;
    int lo = 0, hi = p.numExperts; // offsets[lo] <= row < offsets[hi]
    while (hi - lo > 1) {
      int mid = (lo + hi) / 2;
      (p.offsets[mid] <= row ? lo : hi) = mid;
    }
    finishOutput<Element, Gated>(p, row, i % p.outCols, lo);
  }
}

template <typename Element, typename Shape, bool Gated>
moe_status launchShape(cudaStream_t stream, MmaArgs<Element> args) {
  auto kernel = groupedMatmulMma<Element, Shape, Gated>;
  constexpr int bytes = kSharedBytes<Shape>;
  MOE_TRY(allowDynamicSharedMemory(reinterpret_cast<const void *>(kernel),
                                   bytes));
  int64_t rowTiles = moe_cuda_max_row_tiles(args.numRows, args.numExperts,
                                            Shape::kBlockM);
  int64_t colTiles = (args.outCols + blockOutputCols(Gated) - 1) /
                     blockOutputCols(Gated);
  if (rowTiles > INT32_MAX || colTiles > 65535)
    return MOE_ERROR_INVALID_ARGUMENT;
  int64_t kTiles = (args.kDim + kMmaTileK - 1) / kMmaTileK;
  args.kSplit = splitK(rowTiles * colTiles, multiprocessors(), kTiles);
  args.kTilesPerSplit = (kTiles + args.kSplit - 1) / args.kSplit;
  DeviceBuffer<float> partials; // freed in stream order after the finish
  if (args.kSplit > 1) {
    MOE_TRY(partials.allocate(args.kSplit * args.numRows * args.mDim, stream));
    args.partials = partials.get();
    MOE_TRY(splitCounters(stream, rowTiles * colTiles, args.tileCounters));
  }
  dim3 grid{unsigned(rowTiles), unsigned(colTiles), unsigned(args.kSplit)};
  MOE_LAUNCH(grid, kMmaThreads, bytes, stream, kernel)(args);
  if (args.kSplit > 1 && !args.tileCounters) {
    int64_t outputs = args.numRows * args.outCols;
    unsigned blocks = unsigned(std::min<int64_t>((outputs + 255) / 256, 4096));
    MOE_LAUNCH(blocks, 256, 0, stream, finishSplits<Element, Gated>)(args);
  }
  return launched();
}

template <typename Element, bool Gated>
moe_status launchGated(cudaStream_t stream, const MmaArgs<Element> &args) {
  int64_t rowsPerExpert = args.numRows / args.numExperts;
  if (rowsPerExpert <= 24)
    return launchShape<Element, MmaShape<1, 1>, Gated>(stream, args);
  if (rowsPerExpert <= 96)
    return launchShape<Element, MmaShape<2, 2>, Gated>(stream, args);
  return launchShape<Element, MmaShape<2, 4>, Gated>(stream, args);
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

template <typename Element>
moe_status moe::runtime::cuda::launchMmaGroupedMatmul(
    cudaStream_t stream, const Grouped16<Element> &operands) {
  MmaArgs<Element> args{operands, 1, 0, nullptr, nullptr};
  return operands.gated ? launchGated<Element, true>(stream, args)
                        : launchGated<Element, false>(stream, args);
}

template moe_status moe::runtime::cuda::launchMmaGroupedMatmul(
    cudaStream_t, const Grouped16<__nv_bfloat16> &);
template moe_status moe::runtime::cuda::launchMmaGroupedMatmul(
    cudaStream_t, const Grouped16<__half> &);
