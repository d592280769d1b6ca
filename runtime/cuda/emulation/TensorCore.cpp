//===- TensorCore.cpp - The tensor-core instructions on the emulator ------===//
//
// ldmatrix, mma.sync and wgmma as the PTX ISA defines their fragments and
// matrix descriptors (written independently of the kernels' IndexMath.h),
// for the SIMT emulator (Simt.cpp schedules them: warp collectives for
// the first two, retirement at wgmma.wait_group for the third).
//
//===----------------------------------------------------------------------===//

#include "Simt.h"

#include "TensorCore.h"

#include <array>

namespace moe::cuda_emulation {

void ldmatrixX4(uint32_t (&r)[4], const void *row, bool transposed) {
  if (reinterpret_cast<uintptr_t>(row) % 16 != 0)
    fail("ldmatrix row address not 16-byte aligned");
  // Lanes 8i .. 8i + 7 give the rows of matrix i (8 x 8 b16 each).
  auto rows = exchange(0xffffffffu, row, [&](auto lanes, int lane) {
    std::array<const uint16_t *, kWarpSize> all;
    for (int l = 0; l < kWarpSize; ++l)
      all[l] = static_cast<const uint16_t *>(lanes(l));
    (void)lane;
    return all;
  });
  int lane = laneId(), g = lane / 4, c = lane % 4;
  for (int i = 0; i < 4; ++i) {
    uint16_t lo, hi;
    if (transposed) { // elements (2c, g) and (2c + 1, g)
      lo = rows[8 * i + 2 * c][g];
      hi = rows[8 * i + 2 * c + 1][g];
    } else { // elements (g, 2c) and (g, 2c + 1)
      lo = rows[8 * i + g][2 * c];
      hi = rows[8 * i + g][2 * c + 1];
    }
    r[i] = uint32_t(lo) | uint32_t(hi) << 16;
  }
}

namespace {
float widen(uint16_t bits, bool half) {
  if (half) {
    __half_raw raw;
    raw.x = bits;
    return __half2float(__half(raw));
  }
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}
uint16_t element(uint32_t reg, int which) {
  return uint16_t(which ? reg >> 16 : reg & 0xffffu);
}
} // namespace

void mma16816(float (&acc)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
              bool half) {
  struct Operands {
    uint32_t a[4], b[2];
  };
  // Lane l = 4g + c holds A (16 x 16): a0 (g, 2c..), a1 (g + 8, 2c..),
  // a2 (g, 2c + 8..), a3 (g + 8, 2c + 8..); B (16 x 8): b0 (2c.., g),
  // b1 (2c + 8.., g); C: (g, 2c), (g, 2c + 1), (g + 8, 2c), (g + 8, 2c + 1).
  auto all = exchange(0xffffffffu, Operands{{a[0], a[1], a[2], a[3]}, {b0, b1}},
                      [](auto lanes, int) {
                        std::array<Operands, kWarpSize> ops;
                        for (int l = 0; l < kWarpSize; ++l)
                          ops[l] = lanes(l);
                        return ops;
                      });
  auto aAt = [&](int row, int k) {
    int g = row % 8, c = (k % 8) / 2;
    int reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
    return widen(element(all[4 * g + c].a[reg], k % 2), half);
  };
  auto bAt = [&](int k, int n) {
    int c = (k % 8) / 2;
    return widen(element(all[4 * n + c].b[k >= 8 ? 1 : 0], k % 2), half);
  };
  int lane = laneId(), g = lane / 4, c = lane % 4;
  for (int e = 0; e < 4; ++e) {
    int row = g + (e >= 2 ? 8 : 0), col = 2 * c + e % 2;
    float sum = acc[e];
    for (int k = 0; k < 16; ++k)
      sum += aAt(row, k) * bAt(k, col);
    acc[e] = sum;
  }
}

namespace {
/// A 128-byte-swizzled operand of wgmma, from its descriptor (PTX ISA,
/// "Matrix Descriptor Format"): start address, leading and stride byte
/// offsets (bits 0-13, 16-29, 32-45, all >> 4), base offset (49-51) and
/// swizzle mode (62-63; 1: 128 bytes).
struct Operand {
  uint32_t start, leading, stride;
  explicit Operand(uint64_t descriptor)
      : start(uint32_t(descriptor & 0x3FFF) << 4),
        leading(uint32_t((descriptor >> 16) & 0x3FFF) << 4),
        stride(uint32_t((descriptor >> 32) & 0x3FFF) << 4) {
    if ((descriptor >> 62) != 1 || ((descriptor >> 49) & 7) != 0)
      fail("wgmma descriptor: only 128-byte swizzle, base offset 0, emulated");
  }
  /// The 128-byte swizzle (Swizzle<3,4,3>): address bits 4-6 ^= bits 7-9.
  static uint32_t swizzle(uint32_t address) {
    return address ^ (((address >> 7) & 7) << 4);
  }
  float at(uint32_t offset, bool half) const {
    uint16_t bits;
    std::memcpy(&bits, sharedPointer(swizzle(start + offset)), 2);
    return widen(bits, half);
  }
};
} // namespace

void checkWgmmaDescriptor(uint64_t descriptor) { (void)Operand{descriptor}; }

void computeWgmma(float *d, uint64_t aDescriptor, uint64_t bDescriptor,
                  bool half) {
  Operand a(aDescriptor), b(bDescriptor);
  // Canonical layouts: A K-major - rows 128 bytes apart in 8-row groups,
  // groups `stride` apart; B MN-major - 64 columns contiguous per atom,
  // atoms `leading` apart, k rows 128 bytes apart in 8-row groups,
  // groups `stride` apart. The accumulator fragment: warp w of the
  // warpgroup holds rows 16w .. 16w + 15; lane l, register i: row
  // 16w + l/4 + 8 ((i/2) mod 2), column 8 (i/4) + 2 (l mod 4) + i mod 2.
  auto aAt = [&](int m, int k) {
    return a.at((m % 8) * 128 + (m / 8) * a.stride + k * 2, half);
  };
  auto bAt = [&](int k, int n) {
    return b.at((n % 64) * 2 + (n / 64) * b.leading + (k % 8) * 128 +
                    (k / 8) * b.stride,
                half);
  };
  int thread = int(threadIdx.x % 128), warp = thread / 32, lane = thread % 32;
  float aRows[2][16]; // this thread's two rows
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 16; ++k)
      aRows[h][k] = aAt(16 * warp + lane / 4 + 8 * h, k);
  for (int i = 0; i < 64; ++i) {
    int col = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    float sum = d[i];
    for (int k = 0; k < 16; ++k)
      sum += aRows[(i / 2) % 2][k] * bAt(k, col);
    d[i] = sum;
  }
}

} // namespace moe::cuda_emulation
