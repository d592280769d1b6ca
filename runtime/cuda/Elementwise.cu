//===- Elementwise.cu - Broadcast binary ops on the GPU -------------------===//
//
// moe_cuda_binary_f32: one thread per output element (a grid-stride
// loop), each reading its operands through their broadcast strides
// (Elementwise.h). Memory-bound, like the ops it serves (a residual add).
//
//===----------------------------------------------------------------------===//

#include "CudaSupport.h"
#include "Elementwise.h"

using namespace moe::runtime::cuda;

namespace {

/// Flat: both operands laid out as the output (a residual add), no index
/// arithmetic; else each element's offsets from its multi-index.
template <int Op, bool Flat>
__global__ void binaryKernel(BinaryShape s, const float *lhs, const float *rhs,
                             float *out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < s.count;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t l = i, r = i;
    if (!Flat)
      binaryOffsets(s, i, l, r);
    out[i] = applyBinary(Op, lhs[l], rhs[r]);
  }
}

} // namespace

extern "C" moe_status
moe_cuda_binary_f32(void *stream, int32_t op, int32_t rank,
                    const int64_t *shape, const float *lhs,
                    const int64_t *lhsStrides, const float *rhs,
                    const int64_t *rhsStrides, float *out) {
  if (!validBinaryOp(op) || rank < 0 || rank > kMaxElementwiseRank ||
      (rank > 0 && (!shape || !lhsStrides || !rhsStrides)))
    return MOE_ERROR_INVALID_ARGUMENT;
  BinaryShape s;
  padFront(rank, shape, 1, s.shape);
  padFront(rank, lhsStrides, 0, s.lhs);
  padFront(rank, rhsStrides, 0, s.rhs);
  s.count = 1;
  for (int d = 0; d < kMaxElementwiseRank; ++d) {
    if (s.shape[d] < 0 || s.lhs[d] < 0 || s.rhs[d] < 0)
      return MOE_ERROR_INVALID_ARGUMENT;
    s.count *= s.shape[d];
  }
  if (s.count == 0)
    return MOE_OK;
  if (!lhs || !rhs || !out)
    return MOE_ERROR_INVALID_ARGUMENT;
  constexpr int threads = 256;
  int64_t blocks = (s.count + threads - 1) / threads;
  dim3 grid{unsigned(blocks < 65535 * 8 ? blocks : 65535 * 8)};
  constexpr void (*kernels[][2])(BinaryShape, const float *, const float *,
                                 float *) = {
      {binaryKernel<MOE_CUDA_BINARY_ADD, false>,
       binaryKernel<MOE_CUDA_BINARY_ADD, true>},
      {binaryKernel<MOE_CUDA_BINARY_SUB, false>,
       binaryKernel<MOE_CUDA_BINARY_SUB, true>},
      {binaryKernel<MOE_CUDA_BINARY_MUL, false>,
       binaryKernel<MOE_CUDA_BINARY_MUL, true>},
      {binaryKernel<MOE_CUDA_BINARY_DIV, false>,
       binaryKernel<MOE_CUDA_BINARY_DIV, true>}};
  auto kernel = kernels[op][sameLayout(s, s.lhs) && sameLayout(s, s.rhs)];
  MOE_LAUNCH(grid, threads, 0, asStream(stream), kernel)(s, lhs, rhs, out);
  return launched();
}
