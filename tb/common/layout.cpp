// The accelerator's conv memory layout (see stqn_tb/layout.hpp).
#include "stqn_tb/layout.hpp"

#include <algorithm>

namespace stqn_tb {

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

std::vector<std::vector<Digits>> act_image(const ConvGeometry& g, const stqn::Tensor& in,
                                           int bank_depth) {
  std::vector<std::vector<Digits>> banks(g.cols,
                                         std::vector<Digits>(bank_depth, Digits(g.lanes, kUnwritten)));
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x)
      for (int k = 0; k < g.chunks(); ++k)
        for (int b = 0; b < g.aplanes; ++b) {
          Digits& word = banks[x % g.cols].at(
              g.in_base + ((y * g.wb() + x / g.cols) * g.chunks() + k) * g.aplanes + b);
          for (int i = 0; i < g.lanes; ++i) {
            const int ch = k * g.lanes + i;
            word[i] = ch < g.c ? act_digit(in.at(ch, y, x), g.aplanes, b, g.asigned) : 0;
          }
        }
  return banks;
}

std::vector<Digits> weight_image(const ConvGeometry& g, const std::vector<stqn::WeightValue>& weights,
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

ConvCase conv_random(std::mt19937_64& rng, int lanes, int rows, int cols, int bank_depth,
                     int weight_depth, int max_size) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (;;) {
    ConvCase cc;
    ConvGeometry& g = cc.g;
    g.lanes = lanes, g.rows = rows, g.cols = cols;
    g.k = std::vector<int>{1, 3, 5}[rng() % 3];
    g.pad = pick(0, g.k / 2);
    const int min_size = std::max(1, g.k - 2 * g.pad);
    g.h = pick(min_size, std::max(min_size, max_size));
    g.w = pick(min_size, std::max(min_size, max_size));
    g.c = pick(1, 2 * lanes + 3);
    g.o = pick(1, 3 * rows + 1);
    g.wplanes = pick(1, 2);
    g.aplanes = pick(1, 2);
    g.in_base = pick(0, 7);
    g.w_base = pick(0, 7);
    if (g.act_words_per_bank() > bank_depth || g.weight_words() > weight_depth) continue;

    cc.golden.kernel = g.k;
    cc.golden.stride = 1;
    cc.golden.padding = g.pad;
    cc.golden.out_channels = g.o;
    cc.golden.out_shape = stqn::Shape{g.o, g.ho(), g.wo()};
    const int wmax = g.wplanes == 1 ? 1 : 3;
    for (int n = 0; n < g.o * g.k * g.k * g.c; ++n) {
      const int v = g.wplanes == 1 ? pick(-1, 1) : 2 * pick(0, wmax) - wmax;
      cc.golden.weights.push_back(static_cast<std::int8_t>(v));
    }
    cc.in = stqn::Tensor(stqn::Shape{g.c, g.h, g.w});
    for (auto& v : cc.in.data) v = g.aplanes == 1 ? pick(-1, 1) : pick(-2, 1);
    return cc;
  }
}

}  // namespace stqn_tb
