#include "stqn/fast.hpp"

#include "stqn/error.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

namespace stqn {

using format::ActKind;
using format::Op;
using format::Output;
using format::WeightKind;

namespace {

using u64 = std::uint64_t;
constexpr int kBitsPerWord = 64;
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
  ActType in_act;            // bit-plane kernels only
  PlaneCode a_planes, w_planes;
  int channel_words = 0;     // words per pixel per plane: ceil(C / 64)
  int row_words = 0;         // words per im2col row: ceil(K*K*C / 64)
  std::vector<u64> w_bits;   // [w_plane][o][row_words]
  std::vector<std::int32_t> w_direct;  // (O, fan_in) in im2col order (tap-major, channel-minor)
};

namespace {

// Scratch buffers of one worker thread, reused across images.
struct Scratch {
  Activation a, b;
  std::vector<u64> pixel_planes;  // [plane][pixel][channel_words]
  std::vector<u64> row;           // [plane][row_words]
  std::vector<std::int32_t> row_values;
  std::vector<std::int32_t> acc;
};

// Writes the layer's output for one pixel's accumulators: threshold codes, or logits.
inline std::int32_t output_value(const Layer& layer, int o, std::int32_t s) {
  if (layer.output == Output::Logits) return s + layer.bias[o];
  const int levels = layer.out_act.num_thresholds();
  const std::int32_t* theta = layer.thresholds.data() + std::size_t(o) * levels;
  std::int32_t code = layer.out_act.range().lo;
  for (int l = 0; l < levels; ++l) code += s >= theta[l];
  return code;
}

// Input pixel of output (oy, ox) at tap (ky, kx), or -1 for padding.
inline int tap_pixel(const Layer& layer, const Shape& in, int oy, int ox, int ky, int kx) {
  const int iy = oy * layer.stride + ky - layer.padding;
  const int ix = ox * layer.stride + kx - layer.padding;
  if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) return -1;
  return iy * in.w + ix;
}

void run_direct(const FastEngine::Plan& plan, const Activation& in, Activation& out,
                Scratch& scratch) {
  const Layer& layer = *plan.layer;
  const int channels = in.shape.c;
  const int fan_in = layer.fan_in();
  out.shape = layer.out_shape;
  out.hwc.assign(std::size_t(out.shape.size()), 0);
  scratch.row_values.resize(std::size_t(fan_in));
  std::int32_t* row = scratch.row_values.data();
  const int outputs = layer.out_channels;
  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      // im2col: gather the receptive field, tap-major and channel-minor, zeros for padding.
      if (layer.op == Op::Dense) {
        std::copy(in.hwc.begin(), in.hwc.end(), row);
      } else {
        for (int ky = 0, t = 0; ky < layer.kernel; ++ky) {
          for (int kx = 0; kx < layer.kernel; ++kx, ++t) {
            const int p = tap_pixel(layer, in.shape, oy, ox, ky, kx);
            std::int32_t* dst = row + std::size_t(t) * channels;
            if (p < 0) std::fill(dst, dst + channels, 0);
            else std::copy_n(in.hwc.data() + std::size_t(p) * channels, channels, dst);
          }
        }
      }
      std::int32_t* dst = out.hwc.data() + (std::size_t(oy) * out.shape.w + ox) * outputs;
      for (int o = 0; o < outputs; ++o) {
        const std::int32_t* w = plan.w_direct.data() + std::size_t(o) * fan_in;
        std::int32_t s = 0;
        for (int n = 0; n < fan_in; ++n) s += w[n] * row[n];
        dst[o] = output_value(layer, o, s);
      }
    }
  }
}

// Packs every input pixel's channels into bit planes: pixel_planes[plane][pixel][channel_words].
void planes_build(const FastEngine::Plan& plan, const Activation& in, Scratch& scratch) {
  const int channels = in.shape.c;
  const std::size_t pixels = std::size_t(in.shape.h) * in.shape.w;
  const int cw = plan.channel_words;
  const int planes = plan.kernel == Kernel::BitplaneTernary ? 2 : plan.a_planes.count();
  scratch.pixel_planes.assign(std::size_t(planes) * pixels * cw, 0);
  u64* base = scratch.pixel_planes.data();
  for (std::size_t p = 0; p < pixels; ++p) {
    const std::int32_t* v = in.hwc.data() + p * channels;
    for (int c = 0; c < channels; ++c) {
      const u64 bit = u64{1} << (c % kBitsPerWord);
      const std::size_t word = p * cw + c / kBitsPerWord;
      if (plan.kernel == Kernel::BitplaneTernary) {
        // Planes (nonzero, negative): a = nz * (1 - 2 neg).
        if (v[c] != 0) base[word] |= bit;
        if (v[c] < 0) base[pixels * cw + word] |= bit;
      } else {
        for (int i = 0; i < planes; ++i) {
          if (act_plane_bit(plan.in_act, v[c], i)) base[i * pixels * cw + word] |= bit;
        }
      }
    }
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
  const int w_planes = ternary ? 2 : plan.w_planes.count();
  const int outputs = layer.out_channels;
  planes_build(plan, in, scratch);
  out.shape = layer.out_shape;
  out.hwc.assign(std::size_t(out.shape.size()), 0);
  scratch.row.resize(std::size_t(a_planes) * rw);
  u64* row = scratch.row.data();
  const u64* w = plan.w_bits.data();
  const std::size_t w_plane_stride = std::size_t(outputs) * rw;

  for (int oy = 0; oy < out.shape.h; ++oy) {
    for (int ox = 0; ox < out.shape.w; ++ox) {
      // im2col on bit planes: tap t's channels land at bits [t*C, (t+1)*C) of the row.
      std::fill(row, row + std::size_t(a_planes) * rw, 0);
      for (int ky = 0, t = 0; ky < layer.kernel; ++ky) {
        for (int kx = 0; kx < layer.kernel; ++kx, ++t) {
          const int p = tap_pixel(layer, in.shape, oy, ox, ky, kx);
          if (p < 0) continue;
          for (int i = 0; i < a_planes; ++i) {
            bits_append(row + std::size_t(i) * rw, std::size_t(t) * channels,
                        scratch.pixel_planes.data() + (i * pixels + std::size_t(p)) * cw,
                        channels);
          }
        }
      }
      std::int32_t* dst = out.hwc.data() + (std::size_t(oy) * out.shape.w + ox) * outputs;
      if (ternary) {
        // a*w = nz_a nz_w (1 - 2 (neg_a xor neg_w)).
        const u64* a_nz = row;
        const u64* a_neg = row + rw;
        for (int o = 0; o < outputs; ++o) {
          const u64* w_nz = w + std::size_t(o) * rw;
          const u64* w_neg = w_nz + w_plane_stride;
          std::int32_t nonzero = 0, negative = 0;
          for (int k = 0; k < rw; ++k) {
            const u64 both = a_nz[k] & w_nz[k];
            nonzero += popcount(both);
            negative += popcount(both & (a_neg[k] ^ w_neg[k]));
          }
          dst[o] = output_value(layer, o, nonzero - 2 * negative);
        }
      } else {
        // Bit-serial: S = sum_ij ca_i cw_j popcount(a_i & w_j) + w_offset * sum_i ca_i popcount(a_i).
        std::int32_t act_sum = 0;
        for (int i = 0; i < a_planes; ++i) {
          std::int32_t n = 0;
          for (int k = 0; k < rw; ++k) n += popcount(row[std::size_t(i) * rw + k]);
          act_sum += plan.a_planes.coef[i] * n;
        }
        for (int o = 0; o < outputs; ++o) {
          std::int32_t s = plan.w_planes.offset * act_sum;
          for (int j = 0; j < w_planes; ++j) {
            const u64* wj = w + j * w_plane_stride + std::size_t(o) * rw;
            for (int i = 0; i < a_planes; ++i) {
              const u64* ai = row + std::size_t(i) * rw;
              std::int32_t n = 0;
              for (int k = 0; k < rw; ++k) n += popcount(ai[k] & wj[k]);
              s += plan.a_planes.coef[i] * plan.w_planes.coef[j] * n;
            }
          }
          dst[o] = output_value(layer, o, s);
        }
      }
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
          plan->w_direct.resize(layer.weights.size());
          const Shape in = layer.in_shape;
          for (int o = 0; o < layer.out_channels; ++o) {
            for (int n = 0; n < fan_in; ++n) {
              int src = n;
              if (layer.op == Op::Dense) {
                const int c = n % in.c, pixel = n / in.c;
                src = c * in.h * in.w + pixel;
              }
              plan->w_direct[std::size_t(o) * fan_in + n] =
                  layer.weights[std::size_t(o) * fan_in + src];
            }
          }
        } else {
          plan->in_act = act;
          plan->a_planes = a;
          plan->w_planes = wp;
          plan->channel_words = (layer.in_shape.c + kBitsPerWord - 1) / kBitsPerWord;
          plan->row_words = (fan_in + kBitsPerWord - 1) / kBitsPerWord;
          const int planes = plan->kernel == Kernel::BitplaneTernary ? 2 : wp.count();
          const std::size_t stride = std::size_t(layer.out_channels) * plan->row_words;
          plan->w_bits.assign(std::size_t(planes) * stride, 0);
          for (int o = 0; o < layer.out_channels; ++o) {
            for (int n = 0; n < fan_in; ++n) {
              const std::int32_t v = layer.weights[std::size_t(o) * fan_in + n];
              const u64 bit = u64{1} << (n % kBitsPerWord);
              const std::size_t word = std::size_t(o) * plan->row_words + n / kBitsPerWord;
              for (int j = 0; j < planes; ++j) {
                const bool set = plan->kernel == Kernel::BitplaneTernary
                                     ? (j == 0 ? v != 0 : v < 0)
                                     : weight_plane_bit(layer.weight_type, v, j);
                if (set) plan->w_bits[j * stride + word] |= bit;
              }
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
  auto work = [&](int begin, int end) {
    Scratch scratch;
    for (int i = begin; i < end; ++i) {
      // The input has one channel, so (C, H, W) and (H, W, C) orders coincide.
      scratch.a.shape = package_.input_shape;
      scratch.a.hwc.assign(images + i * image_size, images + (i + 1) * image_size);
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
    pool.emplace_back(work, count * t / threads, count * (t + 1) / threads);
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
