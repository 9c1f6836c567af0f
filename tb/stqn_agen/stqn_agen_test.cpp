// stqn_agen: random stride-1 conv layers (kernel, padding, channels, digit planes) are laid out
// in bank memories as docs/architecture.md section 6 says; the beats the generator emits, played
// through a C++ model of the array, must reproduce the golden model's conv2d_accumulate exactly,
// for every output channel and pixel, under random back-pressure.
#include STQN_TB_HEADER

#include "stqn/reference.hpp"
#include "stqn_tb/harness.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kRows = STQN_P_ROWS, kCols = STQN_P_COLS;
constexpr int kAddrBits = STQN_P_AW, kWAddrBits = STQN_P_WAW;
constexpr int kBankDepth = 1 << kAddrBits, kWDepth = 1 << kWAddrBits;
using Dut = STQN_TB_MODEL;
using Digits = std::vector<int>;  // one memory word: digits in {-1, 0, 1}

// Digit plane b of a value: ternary (1 plane), int:P (two's complement, MSB plane negative) for
// activations, odd:P (digits +-1) for weights.
int act_digit(int v, int planes, int b) {
  if (planes == 1) return v;
  const int bit = (static_cast<unsigned>(v) >> b) & 1;
  return b == planes - 1 ? -bit : bit;
}
int weight_digit(int v, int planes, int b) {
  if (planes == 1) return v;
  const int j = (v + (1 << planes) - 1) / 2;  // v = 2j - M
  return ((j >> b) & 1) ? 1 : -1;
}

struct Layer {
  int c, h, w, o, k, pad, wplanes, aplanes, ho, wo, chunks, ogroups, wb, in_base, w_base;
  stqn::Layer golden;
  stqn::Tensor in;
};

Layer layer_random(std::mt19937_64& rng) {
  for (;;) {
    Layer L{};
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    L.k = std::vector<int>{1, 3, 5}[rng() % 3];
    L.pad = pick(0, L.k / 2);
    L.h = pick(L.k - 2 * L.pad < 1 ? 1 : L.k - 2 * L.pad, 12);
    L.w = pick(L.k - 2 * L.pad < 1 ? 1 : L.k - 2 * L.pad, 12);
    L.c = pick(1, 2 * kLanes + 3);
    L.o = pick(1, 3 * kRows + 1);
    L.wplanes = pick(1, 2);
    L.aplanes = pick(1, 2);
    L.ho = L.h + 2 * L.pad - L.k + 1;
    L.wo = L.w + 2 * L.pad - L.k + 1;
    L.chunks = (L.c + kLanes - 1) / kLanes;
    L.ogroups = (L.o + kRows - 1) / kRows;
    L.wb = (L.w + kCols - 1) / kCols;
    L.in_base = pick(0, 7);
    L.w_base = pick(0, 7);
    const int act_words = L.in_base + L.h * L.wb * L.chunks * L.aplanes;
    const int w_words = L.w_base + L.ogroups * L.k * L.k * L.chunks * L.wplanes;
    if (act_words > kBankDepth || w_words > kWDepth) continue;

    L.golden.kernel = L.k;
    L.golden.stride = 1;
    L.golden.padding = L.pad;
    L.golden.out_channels = L.o;
    L.golden.out_shape = stqn::Shape{L.o, L.ho, L.wo};
    const int wmax = L.wplanes == 1 ? 1 : 3;
    for (int n = 0; n < L.o * L.k * L.k * L.c; ++n) {
      int v = L.wplanes == 1 ? pick(-1, 1) : 2 * pick(0, wmax) - wmax;
      L.golden.weights.push_back(static_cast<std::int8_t>(v));
    }
    L.in = stqn::Tensor(stqn::Shape{L.c, L.h, L.w});
    for (auto& v : L.in.data) v = L.aplanes == 1 ? pick(-1, 1) : pick(-2, 1);
    return L;
  }
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  void run_layer(const Layer& L, double p_ready) {
    // Memory images.
    std::vector<std::vector<Digits>> banks(kCols, std::vector<Digits>(kBankDepth, Digits(kLanes, 9)));
    for (int y = 0; y < L.h; ++y)
      for (int x = 0; x < L.w; ++x)
        for (int k = 0; k < L.chunks; ++k)
          for (int b = 0; b < L.aplanes; ++b) {
            Digits& word = banks[x % kCols][L.in_base +
                                            ((y * L.wb + x / kCols) * L.chunks + k) * L.aplanes + b];
            for (int i = 0; i < kLanes; ++i) {
              const int ch = k * kLanes + i;
              word[i] = ch < L.c ? act_digit(L.in.at(ch, y, x), L.aplanes, b) : 0;
            }
          }
    std::vector<Digits> wmem(kWDepth, Digits(kRows * kLanes, 9));
    for (int og = 0; og < L.ogroups; ++og)
      for (int ky = 0; ky < L.k; ++ky)
        for (int kx = 0; kx < L.k; ++kx)
          for (int k = 0; k < L.chunks; ++k)
            for (int b = 0; b < L.wplanes; ++b) {
              Digits& word = wmem[L.w_base +
                                  (((og * L.k + ky) * L.k + kx) * L.chunks + k) * L.wplanes + b];
              for (int r = 0; r < kRows; ++r)
                for (int i = 0; i < kLanes; ++i) {
                  const int o = og * kRows + r, ch = k * kLanes + i;
                  word[r * kLanes + i] =
                      (o < L.o && ch < L.c)
                          ? weight_digit(L.golden.weights[((o * L.k + ky) * L.k + kx) * L.c + ch],
                                         L.wplanes, b)
                          : 0;
                }
            }
    const stqn::Tensor expected = stqn::conv2d_accumulate(L.golden, L.in);

    h->cfg_in_h_i = L.h;
    h->cfg_in_w_i = L.w;
    h->cfg_out_h_i = L.ho;
    h->cfg_out_w_i = L.wo;
    h->cfg_in_wb_i = L.wb;
    h->cfg_kernel_i = L.k;
    h->cfg_pad_i = L.pad;
    h->cfg_chunks_i = L.chunks;
    h->cfg_ogroups_i = L.ogroups;
    h->cfg_wplanes_i = L.wplanes;
    h->cfg_aplanes_i = L.aplanes;
    h->cfg_in_base_i = L.in_base;
    h->cfg_w_base_i = L.w_base;
    h->out_ready_i = 0;
    h->start_i = 1;
    h.tick();
    h->start_i = 0;

    std::vector<std::int64_t> acc(kRows * kCols, 0);
    const std::int64_t beats_expected =
        std::int64_t{L.ho} * ((L.wo + kCols - 1) / kCols) * L.ogroups * L.k * L.k * L.chunks *
        L.wplanes * L.aplanes;
    std::int64_t beats = 0, groups = 0;
    stqn_tb::Coin sink(rng, p_ready);
    while (beats <= beats_expected) {
      h->out_ready_i = sink.flip();
      h.settle();
      if (!h->out_valid_o) break;
      if (h->out_ready_i) {
        ++beats;
        const int rot = h->out_rot_o;
        const Digits& w = wmem[h->out_w_addr_o];
        for (int c = 0; c < kCols; ++c) {
          const int bank = (c + rot) % kCols;
          const bool col_en = (h->out_col_en_o >> c) & 1;
          ASSERT_EQ(((h->out_bank_en_o >> bank) & 1) != 0, col_en) << "beat " << beats;
          if (!col_en) continue;
          const int addr = static_cast<int>(stqn_tb::field_get(h->out_bank_addr_o, bank * kAddrBits, kAddrBits));
          const Digits& a = banks[bank][addr];
          for (int r = 0; r < kRows; ++r) {
            std::int64_t dot = 0;
            for (int i = 0; i < kLanes; ++i) {
              ASSERT_NE(a[i], 9) << "read of an unwritten activation word, bank " << bank << " address " << addr;
              ASSERT_NE(w[r * kLanes + i], 9) << "read of an unwritten weight word";
              dot += w[r * kLanes + i] * a[i];
            }
            acc[r * kCols + c] += dot << h->out_shift_o;
          }
        }
        if (h->out_last_o) {
          ++groups;
          const int y = h->out_y_o, xg = h->out_xg_o, og = h->out_og_o;
          for (int r = 0; r < kRows; ++r)
            for (int c = 0; c < kCols; ++c) {
              const int o = og * kRows + r, x = xg * kCols + c;
              if (o < L.o && x < L.wo) {
                ASSERT_EQ(acc[r * kCols + c], expected.at(o, y, x))
                    << "channel " << o << " pixel (" << y << ", " << x << ")";
              }
            }
          std::fill(acc.begin(), acc.end(), 0);
        }
      }
      h.tick();
    }
    EXPECT_EQ(beats, beats_expected);
    EXPECT_EQ(groups, std::int64_t{L.ho} * ((L.wo + kCols - 1) / kCols) * L.ogroups);
    h.settle();
    EXPECT_EQ(h->busy_o, 0);
  }
};

TEST_F(Fixture, BeatsReproduceGoldenConvolution) {
  h.reset();
  for (int n = 0; n < 25; ++n) {
    const Layer L = layer_random(rng);
    SCOPED_TRACE(testing::Message() << "layer " << n << ": C=" << L.c << " O=" << L.o << " "
                                    << L.h << "x" << L.w << " K=" << L.k << " pad=" << L.pad
                                    << " planes w/a=" << L.wplanes << "/" << L.aplanes);
    run_layer(L, n % 2 ? 1.0 : 0.6);
    if (HasFatalFailure()) return;
  }
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
  run_layer(layer_random(rng), 0.7);
}

}  // namespace
