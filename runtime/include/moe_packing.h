/*===- moe_packing.h - Panel layout of prepacked expert weights -*- C++ -*-===*
 *
 * The one definition of the packed weight layout that moe-compile writes
 * (convert-moe-to-runtime packs constant weights at compile time) and the
 * CPU runtime's moe_grouped_matmul_packed_f32 reads. Header-only C++ with
 * no dependencies, so both sides include the same code.
 *
 * Weights [E, K, M] row-major become, per expert, panels of kPanel
 * columns stored [K][kPanel] contiguously: the micro-kernel then walks one
 * panel front to back instead of striding M elements per k step. The
 * columns are split into segments first (gated activations: gate columns
 * [0, M/2), then up columns [M/2, M); otherwise one segment), each padded
 * with zero columns to a multiple of kPanel, so that a tile never straddles
 * the gate/up boundary.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_PACKING_H
#define MOE_PACKING_H

#include <cstdint>
#include <cstring>

namespace moe::packing {

/// Columns per panel.
constexpr int64_t kPanel = 32;

inline int64_t panelsOf(int64_t columns) {
  return (columns + kPanel - 1) / kPanel;
}

/// Panels per expert: of the whole M, or of each half when gated.
inline int64_t panelsPerExpert(int64_t m, bool gated) {
  return gated ? 2 * panelsOf(m / 2) : panelsOf(m);
}

/// Elements per expert in the packed layout.
inline int64_t packedExpertElements(int64_t k, int64_t m, bool gated) {
  return panelsPerExpert(m, gated) * k * kPanel;
}

/// The panel holding column `column` of [0, M), and the column inside it.
inline void locateColumn(int64_t column, int64_t m, bool gated,
                         int64_t &panel, int64_t &inPanel) {
  int64_t segment = gated && column >= m / 2 ? 1 : 0;
  int64_t local = segment ? column - m / 2 : column;
  panel = (segment ? panelsOf(m / 2) : 0) + local / kPanel;
  inPanel = local % kPanel;
}

/// Calls copy(to, from) for every element of `weights` [E, K, M]: `from`
/// its row-major index, `to` its index in the packed layout.
template <typename Copy>
inline void forEachPackedElement(int64_t e, int64_t k, int64_t m, bool gated,
                                 Copy copy) {
  int64_t perExpert = packedExpertElements(k, m, gated);
  for (int64_t x = 0; x < e; ++x)
    for (int64_t row = 0; row < k; ++row)
      for (int64_t column = 0; column < m; ++column) {
        int64_t panel, inPanel;
        locateColumn(column, m, gated, panel, inPanel);
        copy(x * perExpert + (panel * k + row) * kPanel + inPanel,
             (x * k + row) * m + column);
      }
}

/// Packs `weights` [E, K, M] (elements of `elementSize` bytes) into `out`
/// (E * packedExpertElements elements, zero padding included).
inline void packWeights(const void *weights, int64_t e, int64_t k, int64_t m,
                        bool gated, int64_t elementSize, void *out) {
  const char *src = static_cast<const char *>(weights);
  char *dst = static_cast<char *>(out);
  std::memset(dst, 0,
              static_cast<size_t>(e * packedExpertElements(k, m, gated) *
                                  elementSize));
  forEachPackedElement(e, k, m, gated, [&](int64_t to, int64_t from) {
    std::memcpy(dst + to * elementSize, src + from * elementSize,
                static_cast<size_t>(elementSize));
  });
}

/// float -> bfloat16 bits, rounding to nearest even (NaN stays NaN).
inline uint16_t floatToBF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

/// bfloat16 panels hold K rows in pairs: [K / 2][kPanel][2], the rows k
/// and k + 1 of a column side by side in one 32-bit word, K padded with a
/// zero row to an even count. That is the operand order of AVX512_BF16's
/// VDPBF16PS (one instruction: 16 columns x 2 rows), and a widening kernel
/// gets both rows' values from one load (low half: k, high half: k + 1).
inline int64_t pairedRows(int64_t k) { return k + (k & 1); }

/// Elements per expert in the bfloat16 layout.
inline int64_t packedExpertElementsBF16(int64_t k, int64_t m, bool gated) {
  return packedExpertElements(pairedRows(k), m, gated);
}

/// Packs float `weights` [E, K, M] as bfloat16 into the paired panel layout
/// (bf16 weights: half the bytes, fp32 accumulation in the kernel).
inline void packWeightsBF16(const float *weights, int64_t e, int64_t k,
                            int64_t m, bool gated, uint16_t *out) {
  int64_t perExpert = packedExpertElementsBF16(k, m, gated);
  std::memset(out, 0, static_cast<size_t>(e * perExpert) * sizeof(uint16_t));
  int64_t rows = pairedRows(k);
  for (int64_t x = 0; x < e; ++x)
    for (int64_t row = 0; row < k; ++row)
      for (int64_t column = 0; column < m; ++column) {
        int64_t panel, inPanel;
        locateColumn(column, m, gated, panel, inPanel);
        out[x * perExpert + panel * rows * kPanel + (row / 2) * 2 * kPanel +
            inPanel * 2 + row % 2] =
            floatToBF16(weights[(x * k + row) * m + column]);
      }
}

/// Scales per expert of the int8 layout: one per packed column (padding
/// columns included, with scale 0).
inline int64_t packedExpertColumns(int64_t m, bool gated) {
  return panelsPerExpert(m, gated) * kPanel;
}

/// Packs float `weights` [E, K, M] as int8 with one scale per output
/// column and expert (symmetric: scale = max |w| over K / 127, q =
/// round(w / scale)), into the same panel layout; `scales` holds
/// E * packedExpertColumns floats, in packed column order. The kernel
/// computes (x . q) * scale in fp32: a quarter of the weight bytes.
inline void packWeightsInt8(const float *weights, int64_t e, int64_t k,
                            int64_t m, bool gated, int8_t *out,
                            float *scales) {
  int64_t columns = packedExpertColumns(m, gated);
  std::memset(out, 0, static_cast<size_t>(e * packedExpertElements(k, m, gated)));
  for (int64_t i = 0; i < e * columns; ++i)
    scales[i] = 0.0f;
  // Pass 1: each column's largest magnitude; pass 2: quantize.
  for (int64_t x = 0; x < e; ++x)
    for (int64_t column = 0; column < m; ++column) {
      int64_t panel, inPanel;
      locateColumn(column, m, gated, panel, inPanel);
      float largest = 0.0f;
      for (int64_t row = 0; row < k; ++row) {
        float v = weights[(x * k + row) * m + column];
        largest = v < 0 ? (-v > largest ? -v : largest)
                        : (v > largest ? v : largest);
      }
      scales[x * columns + panel * kPanel + inPanel] = largest / 127.0f;
    }
  int64_t perExpert = packedExpertElements(k, m, gated);
  forEachPackedElement(e, k, m, gated, [&](int64_t to, int64_t from) {
    int64_t x = to / perExpert;
    int64_t column = (to % perExpert) / (k * kPanel) * kPanel + to % kPanel;
    float scale = scales[x * columns + column];
    float q = scale > 0.0f ? weights[from] / scale : 0.0f;
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    out[to] = static_cast<int8_t>(q < 0 ? q - 0.5f : q + 0.5f);
  });
}

} // namespace moe::packing

#endif /* MOE_PACKING_H */
