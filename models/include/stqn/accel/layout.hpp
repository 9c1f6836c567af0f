// The accelerator's memory layout (docs/architecture.md sections 4 and 6): banked activation
// words and weight words of 2-bit lane digits, in digit planes, and the threshold encoding.
// One implementation for the program compiler, the host driver and the testbenches.
#pragma once

#include "stqn/reference.hpp"

#include <cstdint>
#include <vector>

namespace stqn::accel {

using Digits = std::vector<int>;      // one memory word: one digit in {-1, 0, 1} per lane
inline constexpr int kUnwritten = 9;  // marks words never written (reading one is a bug)

// The 2-bit lane digit {neg, nz} of a value in {-1, 0, +1}, and back.
inline std::uint32_t digit_encode(int v) { return v == 0 ? 0u : (v > 0 ? 1u : 3u); }
inline int digit_decode(std::uint32_t code) {
  return (code & 1u) == 0 ? 0 : ((code & 2u) != 0 ? -1 : 1);
}

// Digit plane b of a value. Activations: ternary (1 plane), int:P (two's complement, MSB plane
// negative) or, with is_signed false, uint:P. Weights: ternary (1 plane) or odd:P (v = 2j - M,
// digits +-1), or int:P with is_int.
int act_digit(int v, int planes, int b, bool is_signed = true);
int weight_digit(int v, int planes, int b, bool is_int = false);

// Saturates an int32 threshold to a signed acc_bits accumulator. Exact (same codes for every
// reachable S) when |S| <= bound < 2^(acc_bits-1) - 1; throws std::invalid_argument otherwise.
std::int32_t threshold_saturate(std::int32_t theta, int acc_bits, std::int64_t bound);

// The int8 stem mode's packed rows (section 4): image rows (one uint8 pixel each) per activation
// word: 2, one at the start of each half word, when a half word holds a byte (lanes >= 8); 1 when
// only the whole word does; 0 when a word holds less than a byte (the mode is then refused).
inline int pack_rows(int lanes) { return lanes >= 8 ? 2 : (lanes >= 4 ? 1 : 0); }
// The first bit of image row y's pixel in its word: the start of half word y mod pack_rows.
inline int pack_lsb(int lanes, int y) { return lanes * (y % pack_rows(lanes)); }

// A stride-1 conv layer on the array, or (with k = 1) the layout of one activation tensor.
struct ConvGeometry {
  // Hardware.
  int lanes = 0, rows = 0, cols = 0;
  // Layer: input (c, h, w), o output channels, kernel k, padding pad, stride 1.
  int c = 0, h = 0, w = 0, o = 0, k = 0, pad = 0, wplanes = 1, aplanes = 1;
  bool asigned = true;  // activation planes: int (MSB negative) or uint
  bool wint = false;    // weight planes: int:P (MSB negative) instead of ternary/odd:P
  int in_base = 0, w_base = 0;
  // Int8 stem mode (c = 1, one plane): the image as packed rows, pixel (y, x) at bit
  // pack_lsb(lanes, y) of word in_base + (y / pack_rows) * row_words + x / cols of bank
  // x mod cols; the weights one int8 per row word.
  bool packed = false;

  int ho() const { return h + 2 * pad - k + 1; }
  int wo() const { return w + 2 * pad - k + 1; }
  int chunks() const { return (c + lanes - 1) / lanes; }
  int ogroups() const { return (o + rows - 1) / rows; }
  int wb() const { return (w + cols - 1) / cols; }
  int xgroups() const { return (wo() + cols - 1) / cols; }
  // Address-generator descriptor fields (stqn_agen), modulo 2^aw where negative.
  int pix_words() const { return chunks() * aplanes; }
  int row_words() const { return wb() * pix_words(); }
  // Image rows above the first (padding) start this many word rows up.
  int pad_rows() const { return packed ? (pad + pack_rows(lanes) - 1) / pack_rows(lanes) : pad; }
  int word_rows() const { return packed ? (h + pack_rows(lanes) - 1) / pack_rows(lanes) : h; }
  std::uint32_t row_off(int aw) const {
    return static_cast<std::uint32_t>(-pad_rows() * row_words()) & ((1u << aw) - 1);
  }
  std::uint32_t col_off(int aw) const {
    const int q = pad == 0 ? 0 : -((pad + cols - 1) / cols);  // floor(-pad / cols)
    return static_cast<std::uint32_t>(q * pix_words()) & ((1u << aw) - 1);
  }
  int tensor_words() const { return word_rows() * row_words(); }  // per bank, from in_base
  int act_words_per_bank() const { return in_base + tensor_words(); }
  int weight_words() const { return w_base + ogroups() * k * k * chunks() * wplanes; }
  // Bank address of pixel (y, x), chunk, plane (the bank is x mod cols).
  int act_address(int y, int x, int chunk, int plane) const {
    return in_base + ((y * wb() + x / cols) * chunks() + chunk) * aplanes + plane;
  }
  std::int64_t beats() const {
    return std::int64_t{ho()} * xgroups() * ogroups() * k * k * chunks() * wplanes * aplanes;
  }
  std::int64_t groups() const { return std::int64_t{ho()} * xgroups() * ogroups(); }
};

// banks[bank][address]: activation words of `in` (c, h, w); unlisted words hold kUnwritten.
std::vector<std::vector<Digits>> act_image(const ConvGeometry& g, const Tensor& in, int bank_depth);
// words[address]: weight words of `weights` (o, k, k, c); row r of a word at lanes r*lanes...
std::vector<Digits> weight_image(const ConvGeometry& g, const std::vector<WeightValue>& weights,
                                 int depth);
// The tensor (c, h, w) held in the banks at g's layout (inverse of act_image).
Tensor act_tensor(const ConvGeometry& g, const std::vector<std::vector<Digits>>& banks);

// Int8 stem mode (g.packed): memory words as raw bits, 32-bit slices low first; an empty word
// was never written.
using RawWord = std::vector<std::uint32_t>;
// banks[bank][address] of the one-channel uint8 image `in` (1, h, w) as packed rows.
std::vector<std::vector<RawWord>> packed_image(const ConvGeometry& g, const Tensor& in, int bank_depth);
// words[address] of int8 weights (o, k, k, 1): one word per (og, ky, kx) at
// w_base + (og * k + ky) * k + kx, row r's weight in bits [r * 2 * lanes +: 8].
std::vector<RawWord> int8_weight_image(const ConvGeometry& g, const std::vector<WeightValue>& weights,
                                       int depth);

}  // namespace stqn::accel
