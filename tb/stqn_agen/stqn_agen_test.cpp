// stqn_agen: random stride-1 conv layers (kernel, padding, channels, digit planes) are laid out
// in bank memories as docs/architecture.md section 6 says (tb/common layout); the beats the
// generator emits, played through a C++ model of the array, must reproduce the golden model's
// conv2d_accumulate exactly, for every output channel and pixel, under random back-pressure.
// Packed-row mode (the int8 stem): random one-channel uint8 images with int8 weights and padding,
// laid out with packed rows (stem_layout.hpp), through a C++ model of the array's int8 beats.
#include STQN_TB_HEADER

#include "stqn/reference.hpp"
#include "stqn_tb/harness.hpp"
#include "stqn_tb/layout.hpp"
#include "stem_layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kRows = STQN_P_ROWS, kCols = STQN_P_COLS;
constexpr int kAddrBits = STQN_P_AW, kWAddrBits = STQN_P_WAW;
constexpr int kBankDepth = 1 << kAddrBits, kWDepth = 1 << kWAddrBits;
using Dut = STQN_TB_MODEL;
static_assert(STQN_P_PACK_ROWS == (kLanes >= 8 ? 2 : 1), "PACK_ROWS: one image row per half word");
using stqn_tb::Digits;
using stqn_tb::kUnwritten;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  // --x-initial unique randomizes the inputs too: every control input starts inactive.
  void SetUp() override {
    h->start_i = 0;
    h->out_ready_i = 0;
    h->cfg_packed_i = 0;
  }

  void run_layer(const stqn_tb::ConvCase& cc, double p_ready) {
    const stqn_tb::ConvGeometry& g = cc.g;
    const auto banks = stqn_tb::act_image(g, cc.in, kBankDepth);
    const auto wmem = stqn_tb::weight_image(g, cc.golden.weights, kWDepth);
    stqn_tb::conv_config_drive(h, g, kAddrBits);
    h->cfg_packed_i = 0;
    // PE row r's term of one beat: the dot product of the two words, scaled by the planes' shift.
    run_beats(g, stqn::conv2d_accumulate(cc.golden, cc.in), p_ready,
              [&](int r, int bank, int addr, int w_addr) -> std::int64_t {
                const Digits& a = banks[bank][addr];
                const Digits& w = wmem[w_addr];
                std::int64_t dot = 0;
                for (int i = 0; i < kLanes; ++i) {
                  EXPECT_NE(a[i], kUnwritten) << "unwritten activation word: bank " << bank
                                              << " address " << addr;
                  EXPECT_NE(w[r * kLanes + i], kUnwritten) << "unwritten weight word";
                  dot += w[r * kLanes + i] * a[i];
                }
                return dot << h->out_shift_o;
              });
  }

  void run_stem(const stqn_tb::ConvCase& cc, double p_ready) {
    const stqn_tb::ConvGeometry& g = cc.g;
    const auto banks = stqn_tb::stem::image_banks(g, cc.in, kBankDepth);
    const auto wmem = stqn_tb::stem::weight_words(g, cc.golden.weights, kWDepth);
    stqn_tb::stem::config_drive(h, g, kAddrBits);
    h->cfg_packed_i = 1;
    // PE row r's term of one int8 beat: the row's int8 weight times the pixel in half word
    // out_byte_o (the image row's slot in the word).
    run_beats(g, stqn::conv2d_accumulate(cc.golden, cc.in), p_ready,
              [&](int r, int bank, int addr, int w_addr) -> std::int64_t {
                const std::int64_t word = banks[bank][addr], w = wmem[w_addr][r];
                EXPECT_NE(word, stqn_tb::stem::kNone) << "unwritten image word: bank " << bank
                                                      << " address " << addr;
                EXPECT_NE(w, stqn_tb::stem::kNone) << "unwritten weight word " << w_addr;
                EXPECT_EQ(h->out_shift_o, 0);
                const int slot = h->out_byte_o;
                EXPECT_LT(slot, stqn_tb::stem::pack_rows(kLanes));
                return std::int64_t{static_cast<std::int8_t>(w & 0xff)} * ((word >> (kLanes * slot)) & 0xff);
              });
  }

  // Starts the layer whose descriptor is on the cfg ports and plays its beats through a C++
  // model of the array: every beat adds term(r, bank, address, weight address) to PE (r, c) for
  // each column c whose tap is inside the image (read from the bank the rotation names); every
  // group's sums must equal `expected` (O, H', W').
  template <typename Term>
  void run_beats(const stqn_tb::ConvGeometry& g, const stqn::Tensor& expected, double p_ready,
                 Term term) {
    h->out_ready_i = 0;
    h->start_i = 1;
    h.tick();
    h->start_i = 0;

    std::vector<std::int64_t> acc(kRows * kCols, 0);
    std::int64_t beats = 0, groups = 0;
    stqn_tb::Coin sink(rng, p_ready);
    while (beats <= g.beats()) {
      h->out_ready_i = sink.flip();
      h.settle();
      if (!h->out_valid_o) break;
      if (h->out_ready_i) {
        ++beats;
        const int rot = h->out_rot_o;
        for (int c = 0; c < kCols; ++c) {
          const int bank = (c + rot) % kCols;
          const bool col_en = (h->out_col_en_o >> c) & 1;
          ASSERT_EQ(((h->out_bank_en_o >> bank) & 1) != 0, col_en) << "beat " << beats;
          if (!col_en) continue;
          const int addr = static_cast<int>(
              stqn_tb::field_get(h->out_bank_addr_o, bank * kAddrBits, kAddrBits));
          for (int r = 0; r < kRows; ++r) acc[r * kCols + c] += term(r, bank, addr, h->out_w_addr_o);
          if (HasFailure()) return;
        }
        if (h->out_last_o) {
          ++groups;
          const int y = h->out_y_o, xg = h->out_xg_o, og = h->out_og_o;
          for (int r = 0; r < kRows; ++r)
            for (int c = 0; c < kCols; ++c) {
              const int o = og * kRows + r, x = xg * kCols + c;
              if (o < g.o && x < g.wo()) {
                ASSERT_EQ(acc[r * kCols + c], expected.at(o, y, x))
                    << "channel " << o << " pixel (" << y << ", " << x << ")";
              }
            }
          std::fill(acc.begin(), acc.end(), 0);
        }
      }
      h.tick();
    }
    EXPECT_EQ(beats, g.beats());
    EXPECT_EQ(groups, g.groups());
    h.settle();
    EXPECT_EQ(h->busy_o, 0);
  }
};

TEST_F(Fixture, BeatsReproduceGoldenConvolution) {
  h.reset();
  for (int n = 0; n < 25; ++n) {
    const auto cc = stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
    const auto& g = cc.g;
    SCOPED_TRACE(testing::Message() << "layer " << n << ": C=" << g.c << " O=" << g.o << " "
                                    << g.h << "x" << g.w << " K=" << g.k << " pad=" << g.pad
                                    << " planes w/a=" << g.wplanes << "/" << g.aplanes);
    run_layer(cc, n % 2 ? 1.0 : 0.6);
    if (HasFatalFailure()) return;
  }
}

// Packed rows: every slot (half word), padding above and below the image (pad up to 2, kernels 1, 3
// and 5), heights that leave the last word row part-filled; then the reference stem's shape.
TEST_F(Fixture, PackedRowsReproduceGoldenStem) {
  h.reset();
  for (int n = 0; n < 30; ++n) {
    const auto cc = stqn_tb::stem::stem_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
    const auto& g = cc.g;
    SCOPED_TRACE(testing::Message() << "stem " << n << ": O=" << g.o << " " << g.h << "x" << g.w
                                    << " K=" << g.k << " pad=" << g.pad);
    run_stem(cc, n % 2 ? 1.0 : 0.6);
    if (HasFatalFailure() || HasFailure()) return;
    // Packed and unpacked layers alternate on one generator: the mode is per layer.
    run_layer(stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth), 0.8);
    if (HasFatalFailure() || HasFailure()) return;
  }
  auto cc = stqn_tb::stem::stem_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
  stqn_tb::ConvGeometry& g = cc.g;
  g.h = g.w = 28, g.k = 3, g.pad = 1, g.o = 32, g.in_base = 0, g.w_base = 0;
  cc.golden.kernel = 3, cc.golden.padding = 1, cc.golden.out_channels = 32;
  cc.golden.out_shape = stqn::Shape{32, 28, 28};
  cc.golden.weights.resize(32 * 9);
  for (auto& w : cc.golden.weights) w = static_cast<stqn::WeightValue>(static_cast<int>(rng() % 256) - 128);
  cc.in = stqn::Tensor(stqn::Shape{1, 28, 28});
  for (auto& v : cc.in.data) v = static_cast<int>(rng() % 256);
  run_stem(cc, 0.9);
}

TEST_F(Fixture, ResetMidLayerThenRunsNextLayer) {
  h.reset();
  h->start_i = 1;
  h->out_ready_i = 1;
  h->cfg_out_h_i = 5;
  h->cfg_out_w_i = 5;
  h->cfg_kernel_i = 3;
  for (int n = 0; n < 17; ++n) h.tick();
  h->start_i = 0;
  h.reset(1);
  EXPECT_EQ(h->busy_o, 0);
  run_layer(stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth), 0.7);
}

}  // namespace
