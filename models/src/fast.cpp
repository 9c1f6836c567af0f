#include "stqn/fast.hpp"

#include "stqn/error.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cstdlib>
#include <cstring>
#include <thread>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace stqn {

using format::ActKind;
using format::Op;
using format::Output;
using format::WeightKind;

namespace {

using u64 = std::uint64_t;
constexpr int kBitsPerWord = 64;
// Output channels computed together by the ternary kernel (two 256-bit vectors of 64-bit lanes).
constexpr int kLanes = 8;
// Bit-serial layers cost (activation planes x weight planes) popcount passes; above this budget
// a direct integer dot product is faster.
constexpr int kMaxPlanePairs = 16;

int popcount(u64 x) { return __builtin_popcountll(x); }

// A value decomposed into binary planes: value = offset + sum_i coef[i] * bit_i(value).
struct PlaneCode {
  std::vector<std::int32_t> coef;
  std::int32_t offset = 0;
  int count() const { return static_cast<int>(coef.size()); }
};

// Activation planes. Ternary uses (pos, neg); uint/int use their binary digits.
PlaneCode act_planes(const ActType& a) {
  PlaneCode p;
  if (a.kind == ActKind::Ternary) {
    p.coef = {1, -1};
    return p;
  }
  for (int b = 0; b < a.bits; ++b) p.coef.push_back(1 << b);
  if (a.kind == ActKind::Int) p.coef.back() = -p.coef.back();
  return p;
}

bool act_plane_bit(const ActType& a, std::int32_t v, int plane) {
  if (a.kind == ActKind::Ternary) return plane == 0 ? v > 0 : v < 0;
  return (static_cast<std::uint32_t>(v) >> plane) & 1u;
}

PlaneCode weight_planes(const WeightType& t) {
  PlaneCode p;
  switch (t.kind) {
    case WeightKind::Ternary: p.coef = {1, -1}; break;
    case WeightKind::Odd:  // value = 2j - M
      for (int b = 0; b < t.bits; ++b) p.coef.push_back(2 << b);
      p.offset = -((1 << t.bits) - 1);
      break;
    case WeightKind::Int:
      for (int b = 0; b < t.bits; ++b) p.coef.push_back(1 << b);
      p.coef.back() = -p.coef.back();
      break;
  }
  return p;
}

bool weight_plane_bit(const WeightType& t, std::int32_t v, int plane) {
  if (t.kind == WeightKind::Ternary) return plane == 0 ? v > 0 : v < 0;
  return (t.encode(v) >> plane) & 1u;
}

// ORs `bits` bits from `src` into `dst` starting at bit `offset`.
void bits_append(u64* dst, std::size_t offset, const u64* src, int bits) {
  const std::size_t word = offset / kBitsPerWord;
  const int shift = static_cast<int>(offset % kBitsPerWord);
  const int src_words = (bits + kBitsPerWord - 1) / kBitsPerWord;
  for (int k = 0; k < src_words; ++k) {
    dst[word + k] |= src[k] << shift;
    if (shift != 0 && (std::size_t(k) * kBitsPerWord + kBitsPerWord - shift) < std::size_t(bits)) {
      dst[word + k + 1] |= src[k] >> (kBitsPerWord - shift);
    }
  }
}

enum class Kernel { Direct, BitplaneTernary, BitplaneGeneric, MaxPool, GlobalAvgPool };

// Activations between layers: (H, W, C) row-major, channels innermost. The buffer only grows
// (it holds at least shape.size() values), so that reusing it for the next image or layer never
// zero-fills memory that every kernel overwrites anyway.
struct Activation {
  Shape shape;
  std::vector<std::int32_t> hwc;
  void reshape(const Shape& s) {
    shape = s;
    if (hwc.size() < std::size_t(s.size())) hwc.resize(std::size_t(s.size()));
  }
};

}  // namespace

struct FastEngine::Plan {
  const Layer* layer = nullptr;
  Kernel kernel = Kernel::Direct;
  int outputs = 0;           // output channels
  // Output stage: thresholds level-major (levels, O) so that the compare loop vectorises.
  int levels = 0;
  std::int32_t act_min = 0;
  std::vector<std::int32_t> theta_by_level;
  // Bit-plane kernels.
  ActType in_act;
  PlaneCode a_planes, w_planes;
  int channel_words = 0;     // words per pixel per plane: ceil(C / 64)
  int row_words = 0;         // words per im2col row: ceil(K*K*C / 64)
  std::vector<u64> w_bits;   // generic: [w_plane][o][row_words]; ternary: see ternary_pack
  // Direct kernel: weights transposed to (fan_in, O) in im2col order (tap-major, channel-minor).
  std::vector<std::int32_t> w_direct_t;
  // Direct kernel on 16-bit operands, used when inputs and weights fit int16 (so that a pair of
  // products fits int32): weights as pairs of im2col neighbours, [pair][O padded to kLanes][2],
  // the operand order of _mm256_madd_epi16.
  bool direct16 = false;
  int pairs = 0;
  std::vector<std::int16_t> w_pairs;
};

namespace {

// Scratch buffers of one worker thread, reused across images.
struct Scratch {
  Activation a, b;
  std::vector<u64> pixel_planes;  // [plane][pixel][channel_words]
  std::vector<u64> row;           // [plane][row_words]
  // Direct layers: the zero-padded input (H, W, C), and this pixel's im2col row and the previous
  // pixel's, on 16-bit or 32-bit operands.
  std::vector<std::int16_t> padded16, row16;
  std::vector<std::int32_t> padded32, row32;
  std::vector<std::int32_t> acc;  // one pixel's accumulators, padded to a multiple of kLanes
};

// Turns one pixel's accumulators acc[0..O) into the layer's outputs: threshold codes or logits.
inline void finish_row(const FastEngine::Plan& plan, const std::int32_t* __restrict acc,
                       std::int32_t* __restrict dst) {
  const int outputs = plan.outputs;
  if (plan.layer->output == Output::Logits) {
    const std::int32_t* __restrict bias = plan.layer->bias.data();
    for (int o = 0; o < outputs; ++o) dst[o] = acc[o] + bias[o];
    return;
  }
  const std::int32_t act_min = plan.act_min;
  const std::int32_t* __restrict theta = plan.theta_by_level.data();
  if (plan.levels == 2) {  // ternary: the common case, vectorised over outputs
    int o = 0;
#ifdef __AVX2__
    // code = act_min + [acc >= t0] + [acc >= t1] = (act_min + 2) - [t0 > acc] - [t1 > acc], and a
    // compare gives -1 for true.
    const __m256i top = _mm256_set1_epi32(act_min + 2);
    for (; o + 8 <= outputs; o += 8) {
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(acc + o));
      const __m256i t0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(theta + o));
      const __m256i t1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(theta + outputs + o));
      const __m256i code = _mm256_add_epi32(
          top, _mm256_add_epi32(_mm256_cmpgt_epi32(t0, a), _mm256_cmpgt_epi32(t1, a)));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + o), code);
    }
#endif
    for (; o < outputs; ++o) {
      dst[o] = act_min + (acc[o] >= theta[o]) + (acc[o] >= theta[outputs + o]);
    }
    return;
  }
  for (int o = 0; o < outputs; ++o) {
    std::int32_t code = act_min;
    for (int l = 0; l < plan.levels; ++l) code += acc[o] >= theta[std::size_t(l) * outputs + o];
    dst[o] = code;
  }
}

constexpr int kMaxTaps = format::kMaxKernel * format::kMaxKernel;

// A conv window over a zero-padded copy of its input: input pixel (y, x) sits at padded pixel
// (y + P, x + P), so that every tap of every output is a valid index and the border reads zeros.
// Plain values, copied into the kernels' locals so that stores to the output cannot force the
// compiler to reload them.
struct PaddedWindow {
  int kernel, stride, padding, padded_h, padded_w;
  std::array<int, kMaxTaps> offsets{};  // ky * padded_w + kx

  PaddedWindow(const Layer& layer, const Shape& in)
      : kernel(layer.kernel), stride(layer.stride), padding(layer.padding),
        padded_h(in.h + 2 * layer.padding), padded_w(in.w + 2 * layer.padding) {
    for (int ky = 0, t = 0; ky < kernel; ++ky) {
      for (int kx = 0; kx < kernel; ++kx) offsets[std::size_t(t++)] = ky * padded_w + kx;
    }
  }
  int taps() const { return kernel * kernel; }
  std::size_t pixels() const { return std::size_t(padded_h) * padded_w; }
  // Padded index of input pixel (y, x), and of the first tap of output (oy, ox).
  std::size_t pixel(int y, int x) const { return std::size_t(y + padding) * padded_w + x + padding; }
  std::size_t origin(int oy, int ox) const {
    return std::size_t(oy) * stride * padded_w + std::size_t(ox) * stride;
  }
};

// Whether two im2col rows are equal; inline, as rows are short and calls to memcmp cost more.
// Rows that differ almost always differ in their first value already.
template <typename T>
bool rows_equal(const T* a, const T* b, std::size_t n) {
  if (a[0] != b[0]) return false;
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i < n; ++i) diff |= static_cast<std::uint64_t>(a[i] ^ b[i]);
  return diff == 0;
}

#ifdef __AVX2__
// acc[0..8B) = sum_n w[n, .] * row[n] with the accumulators held in registers.
template <int B>
void direct_dot_blocks(const std::int32_t* row, const std::int32_t* w, int fan_in,
                       std::int32_t* acc) {
  __m256i sum[B];
  for (int b = 0; b < B; ++b) sum[b] = _mm256_setzero_si256();
  for (int n = 0; n < fan_in; ++n) {
    if (row[n] == 0) continue;
    const __m256i a = _mm256_set1_epi32(row[n]);
    const auto* wn = reinterpret_cast<const __m256i*>(w + std::size_t(n) * B * 8);
    for (int b = 0; b < B; ++b) {
      sum[b] = _mm256_add_epi32(sum[b], _mm256_mullo_epi32(_mm256_loadu_si256(wn + b), a));
    }
  }
  for (int b = 0; b < B; ++b) _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc) + b, sum[b]);
}
#endif

// acc[o] = sum_n w[n, o] * row[n]; zero activations (padding, background pixels, zero codes)
// are skipped.
void direct_dot(const std::int32_t* row, const std::int32_t* w, int fan_in, int outputs,
                std::int32_t* acc) {
#ifdef __AVX2__
  switch (outputs) {
    case 8: return direct_dot_blocks<1>(row, w, fan_in, acc);
    case 16: return direct_dot_blocks<2>(row, w, fan_in, acc);
    case 32: return direct_dot_blocks<4>(row, w, fan_in, acc);
    case 64: return direct_dot_blocks<8>(row, w, fan_in, acc);
    default: break;
  }
#endif
  std::fill(acc, acc + outputs, 0);
  for (int n = 0; n < fan_in; ++n) {
    const std::int32_t a = row[n];
    if (a == 0) continue;
    const std::int32_t* wn = w + std::size_t(n) * outputs;
    for (int o = 0; o < outputs; ++o) acc[o] += wn[o] * a;
  }
}

// acc[0..O) = sum_n w[n, .] * row[n] on 16-bit operands; `row` holds 2 * pairs values (the odd
// one zero). One _mm256_madd_epi16 takes two inputs times eight outputs.
#ifdef __AVX2__
template <int B>
void direct16_blocks(const std::int16_t* row, const std::int16_t* w, int pairs,
                     std::size_t w_stride, std::int32_t* acc) {
  __m256i sum[B];
  for (int b = 0; b < B; ++b) sum[b] = _mm256_setzero_si256();
  for (int m = 0; m < pairs; ++m) {
    std::int32_t pair;
    std::memcpy(&pair, row + 2 * m, sizeof pair);
    const __m256i a = _mm256_set1_epi32(pair);
    const auto* wm = reinterpret_cast<const __m256i*>(w + std::size_t(m) * w_stride);
    for (int b = 0; b < B; ++b) {
      sum[b] = _mm256_add_epi32(sum[b], _mm256_madd_epi16(a, _mm256_loadu_si256(wm + b)));
    }
  }
  for (int b = 0; b < B; ++b) _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc) + b, sum[b]);
}
#endif

// `acc` must have room for the outputs rounded up to kLanes.
void direct16_dot(const std::int16_t* row, const std::int16_t* w, int pairs, int outputs,
                  std::int32_t* acc) {
  const int blocks = (outputs + kLanes - 1) / kLanes;
  const std::size_t w_stride = std::size_t(blocks) * kLanes * 2;
#ifdef __AVX2__
  // Up to four blocks of eight outputs per pass keep the sums in registers.
  for (int b = 0; b < blocks; b += 4) {
    const std::int16_t* wb = w + std::size_t(b) * kLanes * 2;
    std::int32_t* ab = acc + b * kLanes;
    switch (std::min(4, blocks - b)) {
      case 1: direct16_blocks<1>(row, wb, pairs, w_stride, ab); break;
      case 2: direct16_blocks<2>(row, wb, pairs, w_stride, ab); break;
      case 3: direct16_blocks<3>(row, wb, pairs, w_stride, ab); break;
      default: direct16_blocks<4>(row, wb, pairs, w_stride, ab); break;
    }
  }
#else
  for (int o = 0; o < outputs; ++o) {
    std::int32_t sum = 0;
    for (int m = 0; m < pairs; ++m) {
      const std::int16_t* wm = w + std::size_t(m) * w_stride + 2 * o;
      sum += std::int32_t{row[2 * m]} * wm[0] + std::int32_t{row[2 * m + 1]} * wm[1];
    }
    acc[o] = sum;
  }
#endif
}

// A direct layer with operands of type T, dot(row, acc) computing one pixel's accumulators from
// its im2col row (row_size values, zero beyond the fan-in). Convolutions gather their rows from a
// zero-padded copy of the input, each kernel row of taps one contiguous run.
template <typename T, typename Dot>
void run_direct_rows(const FastEngine::Plan& plan, const Activation& in, Activation& out,
                     std::vector<T>& padded, std::vector<T>& rows, std::size_t row_size,
                     std::int32_t* acc, Dot dot) {
  const Layer& layer = *plan.layer;
  const int outputs = layer.out_channels;
  rows.assign(2 * row_size, 0);  // this pixel's row and the previous pixel's
  T* row = rows.data();
  T* previous = row + row_size;
  if (layer.op == Op::Dense) {
    std::copy_n(in.hwc.data(), in.shape.size(), row);
    dot(row, acc);
    finish_row(plan, acc, out.hwc.data());
    return;
  }
  const int c = in.shape.c;
  const PaddedWindow window(layer, in.shape);
  padded.assign(window.pixels() * c, 0);
  for (int y = 0; y < in.shape.h; ++y) {
    std::copy_n(in.hwc.data() + std::size_t(y) * in.shape.w * c, std::size_t(in.shape.w) * c,
                padded.data() + window.pixel(y, 0) * c);
  }
  const int run = window.kernel * c;  // values per kernel row of taps
  bool have_previous = false;
  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      const T* src = padded.data() + window.origin(oy, ox) * c;
      for (int ky = 0; ky < window.kernel; ++ky) {
        const T* from = src + std::size_t(ky) * window.padded_w * c;
        for (int i = 0; i < run; ++i) row[ky * run + i] = from[i];
      }
      // Uniform regions (image background) repeat the previous pixel's row exactly; its
      // accumulators are still in `acc`.
      if (!have_previous || !rows_equal(row, previous, row_size)) {
        dot(row, acc);
        std::swap(row, previous);
        have_previous = true;
      }
      finish_row(plan, acc, out.hwc.data() + (std::size_t(oy) * out.shape.w + ox) * outputs);
    }
  }
}

void run_direct(const FastEngine::Plan& plan, const Activation& in, Activation& out,
                Scratch& scratch) {
  const Layer& layer = *plan.layer;
  const int outputs = layer.out_channels;
  out.reshape(layer.out_shape);
  scratch.acc.resize(std::size_t(outputs + kLanes - 1) / kLanes * kLanes);
  if (plan.direct16) {
    // The construction checked that every input value fits int16.
    run_direct_rows(plan, in, out, scratch.padded16, scratch.row16, std::size_t(plan.pairs) * 2,
                    scratch.acc.data(), [&](const std::int16_t* row, std::int32_t* acc) {
                      direct16_dot(row, plan.w_pairs.data(), plan.pairs, outputs, acc);
                    });
  } else {
    const int fan_in = layer.fan_in();
    run_direct_rows(plan, in, out, scratch.padded32, scratch.row32, std::size_t(fan_in),
                    scratch.acc.data(), [&](const std::int32_t* row, std::int32_t* acc) {
                      direct_dot(row, plan.w_direct_t.data(), fan_in, outputs, acc);
                    });
  }
}

// Bit mask of one plane for channels [c0, c0 + n) of one pixel, n <= 64.
inline u64 plane_mask(const FastEngine::Plan& plan, bool ternary, int plane, const std::int32_t* v,
                      int n) {
  u64 mask = 0;
  int c = 0;
#ifdef __AVX2__
  const __m256i zero = _mm256_setzero_si256();
  for (; c + 8 <= n; c += 8) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + c));
    __m256i bits;  // sign bit of each 32-bit lane holds the plane bit
    if (ternary || plan.in_act.kind == ActKind::Ternary) {
      bits = plane == 0 ? (ternary ? _mm256_xor_si256(_mm256_cmpeq_epi32(x, zero),
                                                      _mm256_set1_epi32(-1))
                                   : _mm256_cmpgt_epi32(x, zero))
                        : _mm256_cmpgt_epi32(zero, x);
    } else {
      bits = _mm256_sll_epi32(x, _mm_cvtsi32_si128(31 - plane));
    }
    mask |= u64(unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(bits)))) << c;
  }
#endif
  for (; c < n; ++c) {
    const bool set = ternary ? (plane == 0 ? v[c] != 0 : v[c] < 0)
                             : act_plane_bit(plan.in_act, v[c], plane);
    mask |= u64{set} << c;
  }
  return mask;
}

// Packs every input pixel's channels into bit planes on the padded grid of `window`:
// pixel_planes[plane][padded pixel][channel_words], zero on the border, which padding taps read.
// The ternary kernel uses planes (nonzero, negative); the others use act_planes().
void planes_build(const FastEngine::Plan& plan, const PaddedWindow& window, const Activation& in,
                  Scratch& scratch) {
  const int channels = in.shape.c;
  const int cw = plan.channel_words;
  const bool ternary = plan.kernel == Kernel::BitplaneTernary;
  const int planes = ternary ? 2 : plan.a_planes.count();
  const std::size_t plane_words = window.pixels() * cw;
  scratch.pixel_planes.assign(std::size_t(planes) * plane_words, 0);
  u64* base = scratch.pixel_planes.data();
  for (int y = 0; y < in.shape.h; ++y) {
    for (int x = 0; x < in.shape.w; ++x) {
      const std::int32_t* v = in.hwc.data() + (std::size_t(y) * in.shape.w + x) * channels;
      u64* dst = base + window.pixel(y, x) * cw;
      for (int k = 0; k < cw; ++k) {
        const int n = std::min(kBitsPerWord, channels - k * kBitsPerWord);
        for (int i = 0; i < planes; ++i) {
          dst[i * plane_words + k] = plane_mask(plan, ternary, i, v + k * kBitsPerWord, n);
        }
      }
    }
  }
}

// Ternary x ternary dot products of one im2col row with every output channel's weights.
// With planes (nz, neg): a*w = nz_a nz_w (1 - 2 (neg_a xor neg_w)), so
// S = popcount(nz_a & nz_w) - 2 popcount(nz_a & nz_w & (neg_a ^ neg_w)).
// Weights are interleaved in blocks of kLanes channels: w[block][k][plane][lane].
// Rows up to this many words get a kernel unrolled for their exact length.
constexpr int kMaxUnrolledWords = 24;

#ifdef __AVX2__
// Per-byte popcount of a 256-bit vector (nibble lookup).
inline __m256i popcount_bytes(__m256i v) {
  const __m256i lookup = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                          2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_shuffle_epi8(lookup, _mm256_and_si256(v, low));
  const __m256i hi = _mm256_shuffle_epi8(lookup, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
  return _mm256_add_epi8(lo, hi);
}

// Four 64-bit lane sums (nonzero count, negative count) -> four int32 S = nz - 2 neg.
inline __m128i lanes_finish(__m256i count_nz, __m256i count_neg) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i sum = _mm256_sub_epi64(_mm256_sad_epu8(count_nz, zero),
                                       _mm256_slli_epi64(_mm256_sad_epu8(count_neg, zero), 1));
  const __m256i even = _mm256_permutevar8x32_epi32(sum, _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0));
  return _mm256_castsi256_si128(even);
}

// RW words per row (RW <= 31, so byte counters of at most 8 per word cannot overflow).
// The activation words are broadcast from memory inside the block loop: held in registers across
// blocks they would need 2*RW ymm registers, and the spills cost more than the loads.
template <int RW>
void ternary_dot_fixed(const u64* a_nz, const u64* a_neg, const u64* w, int blocks,
                       std::int32_t* acc) {
  static_assert(RW * 8 <= 255, "byte counters would overflow");
  for (int b = 0; b < blocks; ++b) {
    const auto* wb = reinterpret_cast<const __m256i*>(w + std::size_t(b) * RW * 2 * kLanes);
    // An empty asm makes the activation pointers opaque per block, so that the compiler cannot
    // hoist the broadcasts out of this loop (and then spill them).
    const u64* nz = a_nz;
    const u64* neg = a_neg;
    asm("" : "+r"(nz), "+r"(neg));
    __m256i nz0 = _mm256_setzero_si256(), nz1 = nz0, neg0 = nz0, neg1 = nz0;
    auto word = [&](int k) {
      const __m256i act_nz = _mm256_set1_epi64x(static_cast<long long>(nz[k]));
      const __m256i act_neg = _mm256_set1_epi64x(static_cast<long long>(neg[k]));
      const __m256i both0 = _mm256_and_si256(act_nz, _mm256_loadu_si256(wb + 4 * k));
      const __m256i both1 = _mm256_and_si256(act_nz, _mm256_loadu_si256(wb + 4 * k + 1));
      const __m256i sign0 = _mm256_xor_si256(act_neg, _mm256_loadu_si256(wb + 4 * k + 2));
      const __m256i sign1 = _mm256_xor_si256(act_neg, _mm256_loadu_si256(wb + 4 * k + 3));
      nz0 = _mm256_add_epi8(nz0, popcount_bytes(both0));
      nz1 = _mm256_add_epi8(nz1, popcount_bytes(both1));
      neg0 = _mm256_add_epi8(neg0, popcount_bytes(_mm256_and_si256(both0, sign0)));
      neg1 = _mm256_add_epi8(neg1, popcount_bytes(_mm256_and_si256(both1, sign1)));
      // Pins the sums here: left free, the compiler reassociates them into one tree over every
      // word, which keeps all the words' counts live at once, and spills them.
      asm("" : "+x"(nz0), "+x"(nz1), "+x"(neg0), "+x"(neg1));
    };
    for (int k = 0; k < RW; ++k) word(k);
    const __m256i result =
        _mm256_setr_m128i(lanes_finish(nz0, neg0), lanes_finish(nz1, neg1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + b * kLanes), result);
  }
}

using TernaryDotFn = void (*)(const u64*, const u64*, const u64*, int, std::int32_t*);

template <std::size_t... I>
constexpr std::array<TernaryDotFn, sizeof...(I)> ternary_dot_table(std::index_sequence<I...>) {
  return {&ternary_dot_fixed<int(I) + 1>...};
}
constexpr auto kTernaryDot = ternary_dot_table(std::make_index_sequence<kMaxUnrolledWords>());
#endif

// `acc` must have room for the outputs rounded up to kLanes.
void ternary_dot(const u64* a_nz, const u64* a_neg, const u64* w, int rw, int outputs,
                 std::int32_t* acc) {
  const int blocks = (outputs + kLanes - 1) / kLanes;
#ifdef __AVX2__
  if (rw <= kMaxUnrolledWords) {
    kTernaryDot[std::size_t(rw) - 1](a_nz, a_neg, w, blocks, acc);
    return;
  }
#endif
  for (int b = 0; b < blocks; ++b) {
    const u64* wb = w + std::size_t(b) * rw * 2 * kLanes;
    for (int j = 0; j < kLanes; ++j) {
      std::int32_t nonzero = 0, negative = 0;
      for (int k = 0; k < rw; ++k) {
        const u64 both = a_nz[k] & wb[std::size_t(k) * 2 * kLanes + j];
        nonzero += popcount(both);
        negative += popcount(both & (a_neg[k] ^ wb[std::size_t(k) * 2 * kLanes + kLanes + j]));
      }
      acc[b * kLanes + j] = nonzero - 2 * negative;
    }
  }
}

// Bit-serial dot products for k-bit layers:
// S = sum_ij ca_i cw_j popcount(a_i & w_j) + w_offset * sum_i ca_i popcount(a_i).
void generic_dot(const FastEngine::Plan& plan, const u64* row, std::int32_t* acc) {
  const int rw = plan.row_words, outputs = plan.outputs;
  const int a_planes = plan.a_planes.count(), w_planes = plan.w_planes.count();
  const std::size_t w_plane_stride = std::size_t(outputs) * rw;
  std::int32_t act_sum = 0;
  for (int i = 0; i < a_planes; ++i) {
    std::int32_t n = 0;
    for (int k = 0; k < rw; ++k) n += popcount(row[std::size_t(i) * rw + k]);
    act_sum += plan.a_planes.coef[i] * n;
  }
  for (int o = 0; o < outputs; ++o) {
    std::int32_t s = plan.w_planes.offset * act_sum;
    for (int j = 0; j < w_planes; ++j) {
      const u64* wj = plan.w_bits.data() + j * w_plane_stride + std::size_t(o) * rw;
      for (int i = 0; i < a_planes; ++i) {
        const u64* ai = row + std::size_t(i) * rw;
        std::int32_t n = 0;
        for (int k = 0; k < rw; ++k) n += popcount(ai[k] & wj[k]);
        s += plan.a_planes.coef[i] * plan.w_planes.coef[j] * n;
      }
    }
    acc[o] = s;
  }
}

void run_bitplane(const FastEngine::Plan& plan, const Activation& in, Activation& out,
                  Scratch& scratch) {
  const Layer& layer = *plan.layer;
  const int channels = in.shape.c;
  const int cw = plan.channel_words, rw = plan.row_words;
  const bool ternary = plan.kernel == Kernel::BitplaneTernary;
  const int a_planes = ternary ? 2 : plan.a_planes.count();
  const int outputs = layer.out_channels;
  const PaddedWindow window(layer, in.shape);
  const int taps = window.taps();
  planes_build(plan, window, in, scratch);
  const std::size_t plane_words = window.pixels() * cw;
  out.reshape(layer.out_shape);
  const std::size_t row_size = std::size_t(a_planes) * rw;
  scratch.row.resize(2 * row_size);  // this pixel's row and the previous pixel's
  scratch.acc.resize(std::size_t(outputs + kLanes - 1) / kLanes * kLanes);
  u64* row = scratch.row.data();
  u64* previous = row + row_size;
  bool have_previous = false;
  const u64* w = plan.w_bits.data();

  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      // im2col on bit planes: tap t's channels land at bits [t*C, (t+1)*C) of the row.
      const std::size_t origin = window.origin(oy, ox);
      for (int i = 0; i < a_planes; ++i) {
        u64* dst = row + std::size_t(i) * rw;
        const u64* plane = scratch.pixel_planes.data() + i * plane_words + origin * cw;
        if (cw == 1 && channels == kBitsPerWord) {
          for (int t = 0; t < taps; ++t) dst[t] = plane[window.offsets[std::size_t(t)]];
        } else if (channels % kBitsPerWord == 0) {
          // Each tap is cw whole words.
          for (int t = 0; t < taps; ++t) {
            const u64* src = plane + std::size_t(window.offsets[std::size_t(t)]) * cw;
            for (int j = 0; j < cw; ++j) dst[t * cw + j] = src[j];
          }
        } else if (channels == 32) {
          // Two taps per word, assembled in a register (no partial stores). A 32-channel
          // pixel's plane word has its upper half zero.
          int t = 0;
          for (; t + 1 < taps; t += 2) {
            dst[t / 2] = plane[window.offsets[std::size_t(t)]] |
                         plane[window.offsets[std::size_t(t + 1)]] << 32;
          }
          if (t < taps) dst[t / 2] = plane[window.offsets[std::size_t(t)]];
        } else {
          std::fill(dst, dst + rw, 0);
          for (int t = 0; t < taps; ++t) {
            bits_append(dst, std::size_t(t) * channels,
                        plane + std::size_t(window.offsets[std::size_t(t)]) * cw, channels);
          }
        }
      }
      // Uniform regions (image background) repeat the previous pixel's row exactly; its
      // accumulators are still in `acc`.
      std::int32_t* acc = scratch.acc.data();
      if (!have_previous || !rows_equal(row, previous, row_size)) {
        if (ternary) {
          ternary_dot(row, row + rw, w, rw, outputs, acc);
        } else {
          generic_dot(plan, row, acc);
        }
        std::swap(row, previous);
        have_previous = true;
      }
      finish_row(plan, acc, out.hwc.data() + (std::size_t(oy) * out.shape.w + ox) * outputs);
    }
  }
}

void run_maxpool(const Layer& layer, const Activation& in, Activation& out) {
  const int c = in.shape.c;
  out.reshape(layer.out_shape);
  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      std::int32_t* dst = out.hwc.data() + (std::size_t(oy) * out.shape.w + ox) * c;
      const std::int32_t* first =
          in.hwc.data() + (std::size_t(oy * layer.stride) * in.shape.w + ox * layer.stride) * c;
      std::copy_n(first, c, dst);
      for (int ky = 0; ky < layer.kernel; ++ky) {
        for (int kx = 0; kx < layer.kernel; ++kx) {
          const std::int32_t* src =
              in.hwc.data() +
              (std::size_t(oy * layer.stride + ky) * in.shape.w + ox * layer.stride + kx) * c;
          for (int ch = 0; ch < c; ++ch) dst[ch] = std::max(dst[ch], src[ch]);
        }
      }
    }
  }
}

void run_global_avgpool(const Activation& in, Activation& out) {
  const int c = in.shape.c;
  const std::size_t pixels = std::size_t(in.shape.h) * in.shape.w;
  out.reshape({c, 1, 1});
  std::fill_n(out.hwc.data(), c, 0);
  for (std::size_t p = 0; p < pixels; ++p) {
    for (int ch = 0; ch < c; ++ch) out.hwc[ch] += in.hwc[p * c + ch];
  }
}

Tensor activation_to_tensor(const Activation& a) {
  Tensor t(a.shape);
  const std::size_t pixels = std::size_t(a.shape.h) * a.shape.w;
  for (std::size_t p = 0; p < pixels; ++p) {
    for (int c = 0; c < a.shape.c; ++c) t.data[c * pixels + p] = a.hwc[p * a.shape.c + c];
  }
  return t;
}

}  // namespace

FastEngine::FastEngine(const Package& package) : package_(package) {
  package_validate(package_, package_.name);
  // The activation type flowing into each layer; empty after a global pool (sums, not codes).
  bool have_act = true;
  ActType act = package_.input_act;
  // Bound on the magnitude of the values flowing into each layer (codes, or sums after a pool).
  std::int64_t in_bound = std::max(std::abs(act.range().lo), std::abs(act.range().hi));
  for (const Layer& layer : package_.layers) {
    auto plan = std::make_unique<Plan>();
    plan->layer = &layer;
    plan->outputs = layer.out_channels;
    switch (layer.op) {
      case Op::MaxPool: plan->kernel = Kernel::MaxPool; break;
      case Op::GlobalAvgPool:
        plan->kernel = Kernel::GlobalAvgPool;
        have_act = false;
        in_bound *= std::int64_t{layer.in_shape.h} * layer.in_shape.w;
        break;
      case Op::Conv2d:
      case Op::Dense: {
        const int fan_in = layer.fan_in();
        const PlaneCode a = have_act ? act_planes(act) : PlaneCode{};
        const PlaneCode wp = weight_planes(layer.weight_type);
        const bool ternary = have_act && act.kind == ActKind::Ternary &&
                             layer.weight_type.kind == WeightKind::Ternary;
        const bool bitplane = have_act && layer.op == Op::Conv2d &&
                              a.count() * wp.count() <= kMaxPlanePairs;
        plan->kernel = ternary && layer.op == Op::Conv2d ? Kernel::BitplaneTernary
                       : bitplane                        ? Kernel::BitplaneGeneric
                                                         : Kernel::Direct;
        if (plan->kernel == Kernel::Direct) {
          // Weights in im2col order. Dense inputs arrive in (H, W, C) order, the package's in
          // (C, H, W): permute once here.
          plan->w_direct_t.resize(layer.weights.size());
          const Shape in = layer.in_shape;
          for (int o = 0; o < layer.out_channels; ++o) {
            for (int n = 0; n < fan_in; ++n) {
              int src = n;
              if (layer.op == Op::Dense) {
                const int c = n % in.c, pixel = n / in.c;
                src = c * in.h * in.w + pixel;
              }
              plan->w_direct_t[std::size_t(n) * layer.out_channels + o] =
                  layer.weights[std::size_t(o) * fan_in + src];
            }
          }
          const auto w_bound = std::max(std::abs(layer.weight_type.range().lo),
                                        std::abs(layer.weight_type.range().hi));
          plan->direct16 = in_bound <= INT16_MAX && w_bound <= INT16_MAX;
          if (plan->direct16) {
            const int padded = (layer.out_channels + kLanes - 1) / kLanes * kLanes;
            plan->pairs = (fan_in + 1) / 2;
            plan->w_pairs.assign(std::size_t(plan->pairs) * padded * 2, 0);
            for (int n = 0; n < fan_in; ++n) {
              for (int o = 0; o < layer.out_channels; ++o) {
                plan->w_pairs[(std::size_t(n / 2) * padded + o) * 2 + n % 2] = static_cast<std::int16_t>(
                    plan->w_direct_t[std::size_t(n) * layer.out_channels + o]);
              }
            }
            plan->w_direct_t = {};  // the 16-bit kernel reads only the pairs
          }
        } else {
          plan->in_act = act;
          plan->a_planes = a;
          plan->w_planes = wp;
          plan->channel_words = (layer.in_shape.c + kBitsPerWord - 1) / kBitsPerWord;
          plan->row_words = (fan_in + kBitsPerWord - 1) / kBitsPerWord;
          const bool ternary_kernel = plan->kernel == Kernel::BitplaneTernary;
          const int planes = ternary_kernel ? 2 : wp.count();
          const int padded = (layer.out_channels + kLanes - 1) / kLanes * kLanes;
          const std::size_t stride = std::size_t(layer.out_channels) * plan->row_words;
          plan->w_bits.assign(std::size_t(planes) * padded * plan->row_words, 0);
          for (int o = 0; o < layer.out_channels; ++o) {
            for (int n = 0; n < fan_in; ++n) {
              const std::int32_t v = layer.weights[std::size_t(o) * fan_in + n];
              const u64 bit = u64{1} << (n % kBitsPerWord);
              const int k = n / kBitsPerWord;
              for (int j = 0; j < planes; ++j) {
                const bool set = ternary_kernel ? (j == 0 ? v != 0 : v < 0)
                                                : weight_plane_bit(layer.weight_type, v, j);
                if (!set) continue;
                // Ternary: [block][k][plane][lane]; generic: [plane][o][k].
                const std::size_t index =
                    ternary_kernel
                        ? ((std::size_t(o / kLanes) * plan->row_words + k) * 2 + j) * kLanes +
                              o % kLanes
                        : j * stride + std::size_t(o) * plan->row_words + k;
                plan->w_bits[index] |= bit;
              }
            }
          }
        }
        if (layer.output == Output::Threshold) {
          plan->levels = layer.out_act.num_thresholds();
          plan->act_min = layer.out_act.range().lo;
          plan->theta_by_level.resize(layer.thresholds.size());
          for (int o = 0; o < layer.out_channels; ++o) {
            for (int l = 0; l < plan->levels; ++l) {
              plan->theta_by_level[std::size_t(l) * layer.out_channels + o] =
                  layer.thresholds[std::size_t(o) * plan->levels + l];
            }
          }
        }
        if (layer.output == Output::Threshold) {
          act = layer.out_act;
          have_act = true;
          in_bound = std::max(std::abs(act.range().lo), std::abs(act.range().hi));
        }
        break;
      }
    }
    plans_.push_back(std::move(plan));
  }
}

FastEngine::~FastEngine() = default;

namespace {

// Runs all plans on `scratch.a` (input) and returns the final activation; `each` sees every
// layer's output.
template <typename Each>
const Activation& forward(const std::vector<std::unique_ptr<FastEngine::Plan>>& plans,
                          Scratch& scratch, Each&& each) {
  Activation* in = &scratch.a;
  Activation* out = &scratch.b;
  for (const auto& plan : plans) {
    switch (plan->kernel) {
      case Kernel::Direct: run_direct(*plan, *in, *out, scratch); break;
      case Kernel::BitplaneTernary:
      case Kernel::BitplaneGeneric: run_bitplane(*plan, *in, *out, scratch); break;
      case Kernel::MaxPool: run_maxpool(*plan->layer, *in, *out); break;
      case Kernel::GlobalAvgPool: run_global_avgpool(*in, *out); break;
    }
    each(*out);
    std::swap(in, out);
  }
  return *in;
}

}  // namespace

void FastEngine::run(const std::uint8_t* images, int count, std::int32_t* logits,
                     int threads) const {
  const std::size_t image_size = std::size_t(package_.input_shape.size());
  const int classes = package_.num_classes();
  threads = std::max(1, std::min(threads, count));
  const Shape in = package_.input_shape;
  const std::size_t pixels = std::size_t(in.h) * in.w;
  auto work = [&](int begin, int end) {
    Scratch scratch;
    for (int i = begin; i < end; ++i) {
      // (C, H, W) uint8 -> (H, W, C) int32.
      const std::uint8_t* image = images + std::size_t(i) * image_size;
      scratch.a.reshape(in);
      for (std::size_t p = 0; p < pixels; ++p) {
        for (int c = 0; c < in.c; ++c) scratch.a.hwc[p * in.c + c] = image[c * pixels + p];
      }
      const Activation& result = forward(plans_, scratch, [](const Activation&) {});
      std::copy_n(result.hwc.data(), classes, logits + std::size_t(i) * classes);
    }
  };
  if (threads == 1) {
    work(0, count);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(work, static_cast<int>(std::int64_t{count} * t / threads),
                      static_cast<int>(std::int64_t{count} * (t + 1) / threads));
  }
  for (auto& thread : pool) thread.join();
}

std::vector<Tensor> FastEngine::forward_all(const Tensor& input) const {
  if (input.shape != package_.input_shape) {
    fail(package_.name, "input: expected shape [{}, {}, {}]", package_.input_shape.c,
         package_.input_shape.h, package_.input_shape.w);
  }
  Scratch scratch;
  // (C, H, W) -> (H, W, C).
  scratch.a.reshape(input.shape);
  const std::size_t pixels = std::size_t(input.shape.h) * input.shape.w;
  for (std::size_t p = 0; p < pixels; ++p) {
    for (int c = 0; c < input.shape.c; ++c) {
      scratch.a.hwc[p * input.shape.c + c] = input.data[c * pixels + p];
    }
  }
  std::vector<Tensor> outputs;
  forward(plans_, scratch, [&](const Activation& a) { outputs.push_back(activation_to_tensor(a)); });
  return outputs;
}

std::vector<std::string> FastEngine::layer_kernels() const {
  std::vector<std::string> names;
  for (const auto& plan : plans_) {
    switch (plan->kernel) {
      case Kernel::Direct: names.push_back(plan->direct16 ? "direct int16" : "direct int32"); break;
      case Kernel::BitplaneTernary: names.push_back("bit-plane ternary"); break;
      case Kernel::BitplaneGeneric:
        names.push_back(fmt::format("bit-serial {}x{} planes", plan->a_planes.count(),
                                    plan->w_planes.count()));
        break;
      case Kernel::MaxPool: names.push_back("maxpool"); break;
      case Kernel::GlobalAvgPool: names.push_back("global avgpool"); break;
    }
  }
  return names;
}

int default_thread_count() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace stqn
