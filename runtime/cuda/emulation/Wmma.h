//===- Wmma.h - nvcuda::wmma on the host (16x16x16 tiles) -------*- C++ -*-===//
//
// The WMMA API the kernels use, for the SIMT emulator (Simt.h): each
// thread's fragment holds the whole tile (what a warp's fragments hold
// together), so loads, stores and products need no exchange between
// lanes; the hardware's requirements on addresses are checked (256-bit
// aligned pointers, ldm a multiple of 16 bytes).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_RUNTIME_CUDA_EMULATION_WMMA_H
#define MOE_RUNTIME_CUDA_EMULATION_WMMA_H

#include <cstdint>

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "16x16x16 tiles only");
  static constexpr int num_elements = 256;
  T x[num_elements];
};

namespace detail {
inline float toFloat(float v) { return v; }
inline float toFloat(__half v) { return __half2float(v); }
inline float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> void checkAddress(const T *p, unsigned ldm) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    moe::cuda_emulation::fail("WMMA pointer not 256-bit aligned");
  if (ldm * sizeof(T) % 16 != 0)
    moe::cuda_emulation::fail("WMMA ldm not a multiple of 16 bytes");
}

template <typename T> void load(T *x, const T *p, unsigned ldm, bool rowMajor) {
  checkAddress(p, ldm);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      x[r * 16 + c] = rowMajor ? p[r * ldm + c] : p[c * ldm + r];
}
} // namespace detail

template <typename Use, typename T, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout> &f, const T *p,
                      unsigned ldm) {
  detail::load(f.x, p, ldm, std::is_same_v<Layout, row_major>);
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f,
                             const float *p, unsigned ldm, layout_t layout) {
  detail::load(f.x, p, ldm, layout == mem_row_major);
}

inline void store_matrix_sync(float *p,
                              const fragment<accumulator, 16, 16, 16, float> &f,
                              unsigned ldm, layout_t layout) {
  detail::checkAddress(p, ldm);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c)
      (layout == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) =
          f.x[r * 16 + c];
}

template <typename Use, typename T, typename Layout, typename V>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout> &f, V value) {
  for (T &x : f.x)
    x = T(value);
}

template <typename T, typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
              const fragment<matrix_a, 16, 16, 16, T, LayoutA> &a,
              const fragment<matrix_b, 16, 16, 16, T, LayoutB> &b,
              const fragment<accumulator, 16, 16, 16, float> &c) {
  float result[256];
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 16; ++n) {
      float sum = c.x[r * 16 + n];
      for (int k = 0; k < 16; ++k)
        sum +=
            detail::toFloat(a.x[r * 16 + k]) * detail::toFloat(b.x[k * 16 + n]);
      result[r * 16 + n] = sum;
    }
  std::memcpy(d.x, result, sizeof(result));
}

} // namespace nvcuda::wmma

#endif // MOE_RUNTIME_CUDA_EMULATION_WMMA_H
