#include "stqn/fast.hpp"

#include "stqn/error.hpp"

#include <algorithm>
#include <array>
#include <utility>
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

// Activations between layers: (H, W, C) row-major, channels innermost.
struct Activation {
  Shape shape;
  std::vector<std::int32_t> hwc;
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
};

namespace {

// Scratch buffers of one worker thread, reused across images.
struct Scratch {
  Activation a, b;
  std::vector<u64> pixel_planes;  // [plane][pixel][channel_words]
  std::vector<u64> row;           // [plane][row_words]
  std::vector<std::int32_t> row_values;
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
    for (int o = 0; o < outputs; ++o) {
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

// A conv window's geometry as plain values, copied into the kernels' locals so that stores to
// the output cannot force the compiler to reload it.
struct Window {
  int kernel, stride, padding, in_h, in_w;
  int pad_pixel;  // index that padding taps get
  std::array<int, kMaxTaps> offsets{};  // ky * in_w + kx

  Window(const Layer& layer, const Shape& in, int pad)
      : kernel(layer.kernel), stride(layer.stride), padding(layer.padding), in_h(in.h),
        in_w(in.w), pad_pixel(pad) {
    for (int ky = 0, t = 0; ky < kernel; ++ky) {
      for (int kx = 0; kx < kernel; ++kx) offsets[std::size_t(t++)] = ky * in_w + kx;
    }
  }
  // Fills pixels[t] for the K*K taps of output (oy, ox): the input pixel index, or pad_pixel.
  int taps(int oy, int ox, int* pixels) const {
    const int iy0 = oy * stride - padding, ix0 = ox * stride - padding;
    const int n = kernel * kernel;
    if (iy0 >= 0 && ix0 >= 0 && iy0 + kernel <= in_h && ix0 + kernel <= in_w) {
      const int base = iy0 * in_w + ix0;  // interior: no padding tap
      for (int t = 0; t < n; ++t) pixels[t] = base + offsets[std::size_t(t)];
      return n;
    }
    int t = 0;
    for (int ky = 0; ky < kernel; ++ky) {
      const int iy = iy0 + ky;
      for (int kx = 0; kx < kernel; ++kx) {
        const int ix = ix0 + kx;
        pixels[t++] = (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) ? pad_pixel : iy * in_w + ix;
      }
    }
    return n;
  }
};


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

void run_direct(const FastEngine::Plan& plan, const Activation& in, Activation& out,
                Scratch& scratch) {
  const Layer& layer = *plan.layer;
  const int channels = in.shape.c;
  const int fan_in = layer.fan_in();
  out.shape = layer.out_shape;
  out.hwc.resize(std::size_t(out.shape.size()));
  const int outputs = layer.out_channels;
  scratch.row_values.resize(std::size_t(fan_in));
  scratch.acc.resize(std::size_t(outputs + kLanes - 1) / kLanes * kLanes);
  std::int32_t* row = scratch.row_values.data();
  const Window window(layer, in.shape, -1);
  std::array<int, kMaxTaps> tap_pixels{};
  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      // im2col: gather the receptive field, tap-major and channel-minor, zeros for padding.
      if (layer.op == Op::Dense) {
        std::copy(in.hwc.begin(), in.hwc.end(), row);
      } else {
        const int taps = window.taps(oy, ox, tap_pixels.data());
        for (int t = 0; t < taps; ++t) {
          const int p = tap_pixels[std::size_t(t)];
          std::int32_t* __restrict dst = row + std::size_t(t) * channels;
          const std::int32_t* __restrict src = in.hwc.data() + std::size_t(p) * channels;
          for (int c = 0; c < channels; ++c) dst[c] = p < 0 ? 0 : src[c];
        }
      }
      std::int32_t* acc = scratch.acc.data();
      direct_dot(row, plan.w_direct_t.data(), fan_in, outputs, acc);
      finish_row(plan, acc, out.hwc.data() + (std::size_t(oy) * out.shape.w + ox) * outputs);
    }
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

// Packs every input pixel's channels into bit planes: pixel_planes[plane][pixel][channel_words].
// Each plane has one extra all-zero pixel at index `pixels`, which padding taps read.
// The ternary kernel uses planes (nonzero, negative); the others use act_planes().
void planes_build(const FastEngine::Plan& plan, const Activation& in, Scratch& scratch) {
  const int channels = in.shape.c;
  const std::size_t pixels = std::size_t(in.shape.h) * in.shape.w;
  const int cw = plan.channel_words;
  const bool ternary = plan.kernel == Kernel::BitplaneTernary;
  const int planes = ternary ? 2 : plan.a_planes.count();
  scratch.pixel_planes.resize(std::size_t(planes) * (pixels + 1) * cw);
  u64* base = scratch.pixel_planes.data();
  for (std::size_t p = 0; p < pixels; ++p) {
    const std::int32_t* v = in.hwc.data() + p * channels;
    for (int k = 0; k < cw; ++k) {
      const int n = std::min(kBitsPerWord, channels - k * kBitsPerWord);
      for (int i = 0; i < planes; ++i) {
        base[(i * (pixels + 1) + p) * cw + k] =
            plane_mask(plan, ternary, i, v + k * kBitsPerWord, n);
      }
    }
  }
  for (int i = 0; i < planes; ++i) {
    std::fill_n(base + (i * (pixels + 1) + pixels) * cw, cw, u64{0});
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
template <int RW>
void ternary_dot_fixed(const u64* a_nz, const u64* a_neg, const u64* w, int blocks,
                       std::int32_t* acc) {
  static_assert(RW * 8 <= 255, "byte counters would overflow");
  __m256i act_nz[RW], act_neg[RW];
  for (int k = 0; k < RW; ++k) {
    act_nz[k] = _mm256_set1_epi64x(static_cast<long long>(a_nz[k]));
    act_neg[k] = _mm256_set1_epi64x(static_cast<long long>(a_neg[k]));
  }
  for (int b = 0; b < blocks; ++b) {
    const auto* wb = reinterpret_cast<const __m256i*>(w + std::size_t(b) * RW * 2 * kLanes);
    __m256i nz0 = _mm256_setzero_si256(), nz1 = nz0, neg0 = nz0, neg1 = nz0;
    for (int k = 0; k < RW; ++k) {
      const __m256i both0 = _mm256_and_si256(act_nz[k], _mm256_loadu_si256(wb + 4 * k));
      const __m256i both1 = _mm256_and_si256(act_nz[k], _mm256_loadu_si256(wb + 4 * k + 1));
      const __m256i sign0 = _mm256_xor_si256(act_neg[k], _mm256_loadu_si256(wb + 4 * k + 2));
      const __m256i sign1 = _mm256_xor_si256(act_neg[k], _mm256_loadu_si256(wb + 4 * k + 3));
      nz0 = _mm256_add_epi8(nz0, popcount_bytes(both0));
      nz1 = _mm256_add_epi8(nz1, popcount_bytes(both1));
      neg0 = _mm256_add_epi8(neg0, popcount_bytes(_mm256_and_si256(both0, sign0)));
      neg1 = _mm256_add_epi8(neg1, popcount_bytes(_mm256_and_si256(both1, sign1)));
    }
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
  const std::size_t pixels = std::size_t(in.shape.h) * in.shape.w;
  const int cw = plan.channel_words, rw = plan.row_words;
  const bool ternary = plan.kernel == Kernel::BitplaneTernary;
  const int a_planes = ternary ? 2 : plan.a_planes.count();
  const int outputs = layer.out_channels;
  planes_build(plan, in, scratch);
  out.shape = layer.out_shape;
  out.hwc.resize(std::size_t(out.shape.size()));
  const std::size_t row_size = std::size_t(a_planes) * rw;
  scratch.row.resize(2 * row_size);  // this pixel's row and the previous pixel's
  scratch.acc.resize(std::size_t(outputs + kLanes - 1) / kLanes * kLanes);
  u64* row = scratch.row.data();
  u64* previous = row + row_size;
  bool have_previous = false;
  const u64* w = plan.w_bits.data();
  const Window window(layer, in.shape, int(pixels));  // padding reads the all-zero pixel
  std::array<int, kMaxTaps> tap_pixels{};

  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      // im2col on bit planes: tap t's channels land at bits [t*C, (t+1)*C) of the row.
      const int taps = window.taps(oy, ox, tap_pixels.data());
      for (int i = 0; i < a_planes; ++i) {
        u64* dst = row + std::size_t(i) * rw;
        const u64* plane = scratch.pixel_planes.data() + i * (pixels + 1) * cw;
        if (channels % kBitsPerWord == 0) {
          // Each tap is cw whole words.
          for (int t = 0; t < taps; ++t) {
            const u64* src = plane + std::size_t(tap_pixels[std::size_t(t)]) * cw;
            for (int j = 0; j < cw; ++j) dst[t * cw + j] = src[j];
          }
        } else if (channels == 32) {
          // Two taps per word, assembled in a register (no partial stores).
          for (int t = 0; t < taps; t += 2) {
            const u64 lo = plane[std::size_t(tap_pixels[std::size_t(t)])] & 0xffffffffu;
            const u64 hi = t + 1 < taps ? plane[std::size_t(tap_pixels[std::size_t(t + 1)])] : 0;
            dst[t / 2] = lo | (hi << 32);
          }
        } else {
          std::fill(dst, dst + rw, 0);
          for (int t = 0; t < taps; ++t) {
            bits_append(dst, std::size_t(t) * channels,
                        plane + std::size_t(tap_pixels[std::size_t(t)]) * cw, channels);
          }
        }
      }
      // Uniform regions (image background) repeat the previous pixel's row exactly; its
      // accumulators are still in `acc`.
      std::int32_t* acc = scratch.acc.data();
      if (!have_previous || !std::equal(row, row + row_size, previous)) {
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
  out.shape = layer.out_shape;
  out.hwc.resize(std::size_t(out.shape.size()));
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
  out.shape = {c, 1, 1};
  out.hwc.assign(std::size_t(c), 0);
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
  for (const Layer& layer : package_.layers) {
    auto plan = std::make_unique<Plan>();
    plan->layer = &layer;
    plan->outputs = layer.out_channels;
    switch (layer.op) {
      case Op::MaxPool: plan->kernel = Kernel::MaxPool; break;
      case Op::GlobalAvgPool:
        plan->kernel = Kernel::GlobalAvgPool;
        have_act = false;
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
      scratch.a.shape = in;
      scratch.a.hwc.resize(image_size);
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
  scratch.a.shape = input.shape;
  scratch.a.hwc.resize(input.data.size());
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
      case Kernel::Direct: names.push_back("direct int"); break;
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
