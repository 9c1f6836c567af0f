// The accelerator's memory layout of a stride-1 conv layer (docs/architecture.md section 6):
// banked activation words and weight words of 2-bit lane digits, in digit planes. Shared by the
// testbenches (and the future program compiler) so that the layout is written down once in C++.
#pragma once

#include "stqn/reference.hpp"

#include <cstdint>
#include <random>
#include <vector>

namespace stqn_tb {

using Digits = std::vector<int>;  // one memory word: one digit in {-1, 0, 1} per lane
inline constexpr int kUnwritten = 9;  // marks words never written (reading one is a bug)

// Digit plane b of a value. Activations: ternary (1 plane), int:P (two's complement, MSB plane
// negative) or, with is_signed false, uint:P. Weights: ternary (1 plane) or odd:P (v = 2j - M,
// digits +-1).
int act_digit(int v, int planes, int b, bool is_signed = true);
int weight_digit(int v, int planes, int b, bool is_int = false);  // is_int: int:P weights

struct ConvGeometry {
  // Hardware.
  int lanes = 0, rows = 0, cols = 0;
  // Layer: input (c, h, w), o output channels, kernel k, padding pad, stride 1.
  int c = 0, h = 0, w = 0, o = 0, k = 0, pad = 0, wplanes = 1, aplanes = 1;
  bool asigned = true;  // activation planes: int (MSB negative) or uint
  bool wint = false;    // weight planes: int:P (MSB negative) instead of ternary/odd:P
  int in_base = 0, w_base = 0;

  int ho() const { return h + 2 * pad - k + 1; }
  int wo() const { return w + 2 * pad - k + 1; }
  int chunks() const { return (c + lanes - 1) / lanes; }
  int ogroups() const { return (o + rows - 1) / rows; }
  int wb() const { return (w + cols - 1) / cols; }
  int xgroups() const { return (wo() + cols - 1) / cols; }
  // Address-generator descriptor fields (stqn_agen), modulo 2^aw where negative.
  int pix_words() const { return chunks() * aplanes; }
  int row_words() const { return wb() * pix_words(); }
  std::uint32_t row_off(int aw) const {
    return static_cast<std::uint32_t>(-pad * row_words()) & ((1u << aw) - 1);
  }
  std::uint32_t col_off(int aw) const {
    const int q = pad == 0 ? 0 : -((pad + cols - 1) / cols);  // floor(-pad / cols)
    return static_cast<std::uint32_t>(q * pix_words()) & ((1u << aw) - 1);
  }
  int act_words_per_bank() const { return in_base + h * wb() * chunks() * aplanes; }
  int weight_words() const { return w_base + ogroups() * k * k * chunks() * wplanes; }
  std::int64_t beats() const {
    return std::int64_t{ho()} * xgroups() * ogroups() * k * k * chunks() * wplanes * aplanes;
  }
  std::int64_t groups() const { return std::int64_t{ho()} * xgroups() * ogroups(); }
};

// banks[bank][address]: activation words of `in` (c, h, w); unlisted words hold kUnwritten.
std::vector<std::vector<Digits>> act_image(const ConvGeometry& g, const stqn::Tensor& in,
                                           int bank_depth);
// words[address]: weight words of `weights` (o, k, k, c); row r of a word at lanes r*lanes...
std::vector<Digits> weight_image(const ConvGeometry& g, const std::vector<stqn::WeightValue>& weights,
                                 int depth);

// A random stride-1 conv layer that fits the memories: geometry, the golden layer (kernel,
// padding, out_shape, weights; ternary or odd:wplanes) and an input tensor (ternary or
// int:aplanes).
struct ConvCase {
  ConvGeometry g;
  stqn::Layer golden;
  stqn::Tensor in;
};
ConvCase conv_random(std::mt19937_64& rng, int lanes, int rows, int cols, int bank_depth,
                     int weight_depth, int max_size = 12);

// Drives a conv layer's geometry onto the cfg_* ports that stqn_agen, stqn_conv and stqn_core
// share (`h` is a Harness: h->port). Layer-specific ports stay with each bench.
template <typename Harness>
void conv_config_drive(Harness& h, const ConvGeometry& g, int addr_bits) {
  h->cfg_in_h_i = g.h;
  h->cfg_in_w_i = g.w;
  h->cfg_out_h_i = g.ho();
  h->cfg_out_w_i = g.wo();
  h->cfg_pix_words_i = g.pix_words();
  h->cfg_row_words_i = g.row_words();
  h->cfg_row_off_i = g.row_off(addr_bits);
  h->cfg_col_off_i = g.col_off(addr_bits);
  h->cfg_kernel_i = g.k;
  h->cfg_pad_i = g.pad;
  h->cfg_chunks_i = g.chunks();
  h->cfg_ogroups_i = g.ogroups();
  h->cfg_wplanes_i = g.wplanes;
  h->cfg_aplanes_i = g.aplanes;
  h->cfg_in_base_i = g.in_base;
  h->cfg_w_base_i = g.w_base;
}

}  // namespace stqn_tb
