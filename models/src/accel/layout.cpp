// The accelerator's memory layout (see stqn/accel/layout.hpp).
#include "stqn/accel/layout.hpp"

#include <stdexcept>
#include <string>

namespace stqn::accel {

int act_digit(int v, int planes, int b, bool is_signed) {
  if (planes == 1 && is_signed) return v;  // ternary (or int1)
  const int bit = (static_cast<unsigned>(v) >> b) & 1;
  return (is_signed && b == planes - 1) ? -bit : bit;
}

int weight_digit(int v, int planes, int b, bool is_int) {
  if (is_int) {
    const int bit = (static_cast<unsigned>(v) >> b) & 1;
    return b == planes - 1 ? -bit : bit;
  }
  if (planes == 1) return v;
  const int j = (v + (1 << planes) - 1) / 2;  // v = 2j - M
  return ((j >> b) & 1) ? 1 : -1;
}

std::int32_t threshold_saturate(std::int32_t theta, int acc_bits, std::int64_t bound) {
  if (acc_bits < 2 || acc_bits > 32) throw std::invalid_argument("acc_bits out of [2, 32]");
  const std::int64_t hi = (std::int64_t{1} << (acc_bits - 1)) - 1;
  const std::int64_t lo = -(std::int64_t{1} << (acc_bits - 1));
  if (bound < 0 || bound >= hi) {
    throw std::invalid_argument("accumulator bound " + std::to_string(bound) +
                                " does not fit a " + std::to_string(acc_bits) +
                                "-bit accumulator with room to saturate");
  }
  if (theta > hi) return static_cast<std::int32_t>(hi);
  if (theta < lo) return static_cast<std::int32_t>(lo);
  return theta;
}

std::vector<std::vector<Digits>> act_image(const ConvGeometry& g, const Tensor& in, int bank_depth) {
  std::vector<std::vector<Digits>> banks(g.cols,
                                         std::vector<Digits>(bank_depth, Digits(g.lanes, kUnwritten)));
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x)
      for (int k = 0; k < g.chunks(); ++k)
        for (int b = 0; b < g.aplanes; ++b) {
          Digits& word = banks[x % g.cols].at(g.act_address(y, x, k, b));
          for (int i = 0; i < g.lanes; ++i) {
            const int ch = k * g.lanes + i;
            word[i] = ch < g.c ? act_digit(in.at(ch, y, x), g.aplanes, b, g.asigned) : 0;
          }
        }
  return banks;
}

Tensor act_tensor(const ConvGeometry& g, const std::vector<std::vector<Digits>>& banks) {
  Tensor t(Shape{g.c, g.h, g.w});
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x)
      for (int ch = 0; ch < g.c; ++ch) {
        int v = 0;
        for (int b = 0; b < g.aplanes; ++b) {
          const int d = banks[x % g.cols].at(g.act_address(y, x, ch / g.lanes, b))[ch % g.lanes];
          v += d * (1 << b);
        }
        t.at(ch, y, x) = v;
      }
  return t;
}

std::vector<Digits> weight_image(const ConvGeometry& g, const std::vector<WeightValue>& weights,
                                 int depth) {
  std::vector<Digits> words(depth, Digits(g.rows * g.lanes, kUnwritten));
  for (int og = 0; og < g.ogroups(); ++og)
    for (int ky = 0; ky < g.k; ++ky)
      for (int kx = 0; kx < g.k; ++kx)
        for (int k = 0; k < g.chunks(); ++k)
          for (int b = 0; b < g.wplanes; ++b) {
            Digits& word = words.at(
                g.w_base + (((og * g.k + ky) * g.k + kx) * g.chunks() + k) * g.wplanes + b);
            for (int r = 0; r < g.rows; ++r)
              for (int i = 0; i < g.lanes; ++i) {
                const int o = og * g.rows + r, ch = k * g.lanes + i;
                word[r * g.lanes + i] =
                    (o < g.o && ch < g.c)
                        ? weight_digit(weights[((std::size_t(o) * g.k + ky) * g.k + kx) * g.c + ch],
                                       g.wplanes, b, g.wint)
                        : 0;
              }
          }
  return words;
}

namespace {
int raw_slices(int bits) { return (bits + 31) / 32; }
void raw_put_byte(RawWord& word, int lsb, int value) {
  for (int b = 0; b < 8; ++b)
    if ((value >> b) & 1) word[(lsb + b) / 32] |= std::uint32_t{1} << ((lsb + b) % 32);
}
}  // namespace

std::vector<std::vector<RawWord>> packed_image(const ConvGeometry& g, const Tensor& in, int bank_depth) {
  const int rows = pack_rows(g.lanes);
  if (!g.packed || rows < 1 || g.c != 1 || in.shape.c != 1) {
    throw std::invalid_argument("packed_image: needs a packed one-channel geometry with a byte per word row");
  }
  std::vector<std::vector<RawWord>> banks(g.cols, std::vector<RawWord>(bank_depth));
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x) {
      RawWord& word = banks[x % g.cols].at(g.in_base + (y / rows) * g.row_words() + x / g.cols);
      if (word.empty()) word.assign(raw_slices(2 * g.lanes), 0);
      const int pixel = in.at(0, y, x);
      if (pixel < 0 || pixel > 255) throw std::invalid_argument("packed_image: a pixel outside uint8");
      raw_put_byte(word, pack_lsb(g.lanes, y), pixel);
    }
  return banks;
}

std::vector<RawWord> int8_weight_image(const ConvGeometry& g, const std::vector<WeightValue>& weights,
                                       int depth) {
  if (g.c != 1) throw std::invalid_argument("int8_weight_image: one input channel");
  std::vector<RawWord> words(depth);
  for (int og = 0; og < g.ogroups(); ++og)
    for (int ky = 0; ky < g.k; ++ky)
      for (int kx = 0; kx < g.k; ++kx) {
        RawWord& word = words.at(g.w_base + (og * g.k + ky) * g.k + kx);
        word.assign(raw_slices(2 * g.lanes * g.rows), 0);
        for (int r = 0; r < g.rows; ++r) {
          const int o = og * g.rows + r;
          if (o >= g.o) continue;
          const int w = weights[(std::size_t(o) * g.k + ky) * g.k + kx];
          if (w < -128 || w > 127) throw std::invalid_argument("int8_weight_image: a weight outside int8");
          raw_put_byte(word, r * 2 * g.lanes, w & 0xff);
        }
      }
  return words;
}

}  // namespace stqn::accel
