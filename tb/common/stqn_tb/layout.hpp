// The accelerator's memory layout for the testbenches: the layout itself lives in the
// accelerator library (models/include/stqn/accel/layout.hpp, shared with the program compiler
// and the driver); here are random conv layers that fit it and the cfg-port driver.
#pragma once

#include "stqn/accel/layout.hpp"
#include "stqn/reference.hpp"

#include <cstdint>
#include <random>
#include <vector>

namespace stqn_tb {

using stqn::accel::act_digit;
using stqn::accel::act_image;
using stqn::accel::ConvGeometry;
using stqn::accel::Digits;
using stqn::accel::kUnwritten;
using stqn::accel::weight_digit;
using stqn::accel::weight_image;

// A random stride-1 conv layer that fits the memories: geometry (kernels 1, 3, 5, 7, padding up
// to kernel - 1), the golden layer (kernel, padding, out_shape, weights; ternary or odd:wplanes)
// and an input tensor (ternary or int:aplanes).
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
