// The int8 stem's memory images, written from the specification (docs/architecture.md section 4,
// "packed rows"), for the stqn_agen and stqn_conv benches:
//   image: pixel (y, x) of a one-channel uint8 image is at bits [LANES * (y mod R) +: 8] (the
//          start of half word y mod R) of the word at in_base + (y / R) * ceil(W / COLS) + x / COLS
//          in bank x mod COLS, R = 2 rows per word (1 if LANES = 4: the word is one byte);
//   weights: one word per (output-channel group og, ky, kx) at w_base + (og * K + ky) * K + kx,
//          row r's int8 weight of channel og * ROWS + r in the low byte of the row's 2 * LANES bits.
// Bytes the layout does not use are 0 here (the array must ignore them; tb/stqn_array fills them
// with random bits).
#pragma once

#include "stqn_tb/layout.hpp"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace stqn_tb::stem {

inline constexpr std::int64_t kNone = -1;  // a word never written (reading one is a bug)
using Words = std::vector<std::int64_t>;   // one memory: address -> word (or kNone)

inline int pack_rows(int lanes) { return lanes >= 8 ? 2 : 1; }

// The agen's row_off field in packed mode: floor(-pad / R) * row_words, modulo 2^aw.
inline std::uint32_t row_off(const ConvGeometry& g, int aw) {
  const int r = pack_rows(g.lanes);
  const int q = -((g.pad + r - 1) / r);  // floor(-pad / r)
  return static_cast<std::uint32_t>(q * g.row_words()) & ((1u << aw) - 1);
}
// Words per bank from in_base: ceil(H / R) word rows.
inline int tensor_words(const ConvGeometry& g) {
  const int r = pack_rows(g.lanes);
  return (g.h + r - 1) / r * g.row_words();
}

// banks[bank][address] of the (1, H, W) image `in`.
inline std::vector<Words> image_banks(const ConvGeometry& g, const stqn::Tensor& in, int depth) {
  const int r = pack_rows(g.lanes);
  std::vector<Words> banks(g.cols, Words(depth, kNone));
  for (int y = 0; y < g.h; ++y)
    for (int x = 0; x < g.w; ++x) {
      std::int64_t& word = banks[x % g.cols].at(g.in_base + (y / r) * g.wb() + x / g.cols);
      if (word == kNone) word = 0;
      word |= std::int64_t{in.at(0, y, x) & 0xff} << (g.lanes * (y % r));
    }
  return banks;
}

// Weight words of the (O, K, K, 1) int8 weights; row r at bits [r * 2 * lanes +: 2 * lanes], so a
// word is a vector of ROWS row fields.
inline std::vector<Words> weight_words(const ConvGeometry& g, const std::vector<stqn::WeightValue>& w,
                                       int depth) {
  std::vector<Words> words(depth, Words(g.rows, kNone));
  for (int og = 0; og < g.ogroups(); ++og)
    for (int ky = 0; ky < g.k; ++ky)
      for (int kx = 0; kx < g.k; ++kx) {
        Words& word = words.at(g.w_base + (og * g.k + ky) * g.k + kx);
        for (int r = 0; r < g.rows; ++r) {
          const int o = og * g.rows + r;
          word[r] = o < g.o ? (w[(std::size_t(o) * g.k + ky) * g.k + kx] & 0xff) : 0;
        }
      }
  return words;
}

// A random stem-like layer: one uint8 input channel, int8 weights, stride 1; pixels and weights
// are extremes (0, 255; -128, 127) a quarter of the time. Fits `bank_depth` and `weight_depth`.
inline ConvCase stem_random(std::mt19937_64& rng, int lanes, int rows, int cols, int bank_depth,
                            int weight_depth, int max_size = 20) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (;;) {
    ConvCase cc;
    ConvGeometry& g = cc.g;
    g.lanes = lanes, g.rows = rows, g.cols = cols;
    g.c = 1, g.wplanes = 1, g.aplanes = 1, g.asigned = false, g.wint = true;
    g.k = std::vector<int>{1, 3, 5}[rng() % 3];
    g.pad = pick(0, g.k / 2);
    const int min_size = std::max(1, g.k - 2 * g.pad);
    g.h = pick(min_size, std::max(min_size, max_size));
    g.w = pick(min_size, std::max(min_size, max_size));
    g.o = pick(1, 3 * rows + 1);
    g.in_base = pick(0, 7);
    g.w_base = pick(0, 7);
    if (g.in_base + tensor_words(g) > bank_depth ||
        g.w_base + g.ogroups() * g.k * g.k > weight_depth)
      continue;
    cc.golden.kernel = g.k;
    cc.golden.stride = 1;
    cc.golden.padding = g.pad;
    cc.golden.out_channels = g.o;
    cc.golden.out_shape = stqn::Shape{g.o, g.ho(), g.wo()};
    for (int n = 0; n < g.o * g.k * g.k; ++n)
      cc.golden.weights.push_back(static_cast<stqn::WeightValue>(
          rng() % 4 == 0 ? (rng() % 2 ? -128 : 127) : pick(-128, 127)));
    cc.in = stqn::Tensor(stqn::Shape{1, g.h, g.w});
    for (auto& v : cc.in.data) v = rng() % 4 == 0 ? (rng() % 2 ? 255 : 0) : pick(0, 255);
    return cc;
  }
}

// Drives a stem layer's descriptor onto the cfg_* ports shared by stqn_agen / stqn_conv: the
// conv fields of one channel and one plane, with packed mode's row_off.
template <typename Harness>
void config_drive(Harness& h, const ConvGeometry& g, int addr_bits) {
  conv_config_drive(h, g, addr_bits);
  h->cfg_row_off_i = row_off(g, addr_bits);
}

}  // namespace stqn_tb::stem
