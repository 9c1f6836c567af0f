// Random conv layers for the testbenches (see stqn_tb/layout.hpp).
#include "stqn_tb/layout.hpp"

#include <algorithm>

namespace stqn_tb {

ConvCase conv_random(std::mt19937_64& rng, int lanes, int rows, int cols, int bank_depth,
                     int weight_depth, int max_size) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (;;) {
    ConvCase cc;
    ConvGeometry& g = cc.g;
    g.lanes = lanes, g.rows = rows, g.cols = cols;
    g.k = std::vector<int>{1, 3, 5, 7}[rng() % 4];
    // Up to k - 1 (the descriptor's limit): a padding of COLS or more puts a tap a whole pixel
    // group left of the image, and the output outgrows the input.
    g.pad = pick(0, g.k - 1);
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
