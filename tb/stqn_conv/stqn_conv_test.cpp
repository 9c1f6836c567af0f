// stqn_conv: memories loaded through the host port with the layout of tb/common, random stride-1
// conv layers run under random back-pressure, every group's accumulators compared bit-exactly
// with the golden conv2d_accumulate (naming channel and pixel). The reference network's block
// shapes run at one beat per cycle; their cycles and utilisation are printed (and written as JSON
// when STQN_BENCH_OUT is set). The int8 stem mode (packed image rows, int8 weights x uint8 pixels,
// one beat per tap): random stems alternating with ternary layers, and the shipped reference
// package's stem on a real Fashion-MNIST image and on random and saturated images, bit-exact and
// at one beat per cycle.
#include STQN_TB_HEADER

#include "stqn/idx.hpp"
#include "stqn/reference.hpp"
#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"
#include "stqn_tb/layout.hpp"
#include "../stqn_agen/stem_layout.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kRows = STQN_P_ROWS, kCols = STQN_P_COLS;
constexpr int kAccBits = STQN_P_ACC_W, kAddrBits = STQN_P_AW, kWAddrBits = STQN_P_WAW;
constexpr int kBankDepth = 1 << kAddrBits, kWDepth = 1 << kWAddrBits;
// Bank write enables: one per slot (kRows lanes, the channels of one group) of each bank.
constexpr int kSlots = kLanes / kRows;
constexpr unsigned long long kBankSlots = (1ull << kSlots) - 1;
using Dut = STQN_TB_MODEL;
using stqn_tb::Digits;
using stqn_tb::kUnwritten;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  // --x-initial unique randomizes the inputs too: every control input starts inactive.
  void SetUp() override {
    h->start_i = 0;
    h->act_wr_en_i = 0;
    h->act_rd_en_i = 0;
    h->w_wr_en_i = 0;
    h->out_ready_i = 0;
    h->out_done_i = 0;
    h->cfg_int8_i = 0;
  }

  // The activation write enables of every slot of bank b (one per slot of kRows lanes).
  static std::uint64_t bank_slots(int b) { return kBankSlots << (b * kSlots); }

  void load(const stqn_tb::ConvCase& cc) {
    const auto banks = stqn_tb::act_image(cc.g, cc.in, kBankDepth);
    const auto wmem = stqn_tb::weight_image(cc.g, cc.golden.weights, kWDepth);
    for (int b = 0; b < kCols; ++b)
      for (int a = 0; a < cc.g.act_words_per_bank(); ++a) {
        if (banks[b][a][0] == kUnwritten) continue;
        h->act_wr_en_i = bank_slots(b);
        h->act_wr_addr_i = a;
        for (int i = 0; i < kLanes; ++i)
          stqn_tb::field_put(h->act_wr_data_i, (b * kLanes + i) * 2, 2,
                             stqn_tb::digit_encode(banks[b][a][i]));
        h.tick();
      }
    h->act_wr_en_i = 0;
    h->w_wr_en_i = 1;
    for (int a = 0; a < cc.g.weight_words(); ++a) {
      if (wmem[a][0] == kUnwritten) continue;
      h->w_wr_addr_i = a;
      for (int i = 0; i < kRows * kLanes; ++i)
        stqn_tb::field_put(h->w_wr_data_i, 2 * i, 2, stqn_tb::digit_encode(wmem[a][i]));
      h.tick();
    }
    h->w_wr_en_i = 0;
  }

  // Loads an int8 stem layer: the image with packed rows, one weight word per (og, ky, kx).
  void load_stem(const stqn_tb::ConvCase& cc) {
    const auto banks = stqn_tb::stem::image_banks(cc.g, cc.in, kBankDepth);
    const auto wmem = stqn_tb::stem::weight_words(cc.g, cc.golden.weights, kWDepth);
    for (int b = 0; b < kCols; ++b)
      for (int a = 0; a < kBankDepth; ++a) {
        if (banks[b][a] == stqn_tb::stem::kNone) continue;
        h->act_wr_en_i = bank_slots(b);
        h->act_wr_addr_i = a;
        stqn_tb::field_put(h->act_wr_data_i, b * 2 * kLanes, 2 * kLanes, banks[b][a]);
        h.tick();
      }
    h->act_wr_en_i = 0;
    h->w_wr_en_i = 1;
    for (int a = 0; a < kWDepth; ++a) {
      if (wmem[a][0] == stqn_tb::stem::kNone) continue;
      h->w_wr_addr_i = a;
      for (int r = 0; r < kRows; ++r)
        stqn_tb::field_put(h->w_wr_data_i, r * 2 * kLanes, 2 * kLanes, wmem[a][r]);
      h.tick();
    }
    h->w_wr_en_i = 0;
  }

  // A stride-1 ternary layer of this geometry with random ternary weights and inputs.
  stqn_tb::ConvCase ternary_case(int c, int o, int h, int w, int k, int pad) {
    stqn_tb::ConvCase cc;
    stqn_tb::ConvGeometry& g = cc.g;
    g.lanes = kLanes, g.rows = kRows, g.cols = kCols;
    g.c = c, g.o = o, g.h = h, g.w = w, g.k = k, g.pad = pad;
    cc.golden.kernel = k;
    cc.golden.stride = 1;
    cc.golden.padding = pad;
    cc.golden.out_channels = o;
    cc.golden.out_shape = stqn::Shape{o, g.ho(), g.wo()};
    std::uniform_int_distribution<int> digit(-1, 1);
    for (int n = 0; n < o * k * k * c; ++n) cc.golden.weights.push_back(static_cast<std::int8_t>(digit(rng)));
    cc.in = stqn::Tensor(stqn::Shape{c, h, w});
    for (auto& v : cc.in.data) v = digit(rng);
    return cc;
  }

  // Runs a loaded layer (a ternary/digit-plane conv, or with `stem` an int8 stem) and checks every
  // group; returns the cycles from start to the last group's done. The sink plays the write-back:
  // it takes a group (when it holds none, or in the cycle it is done with the one it holds), keeps
  // its accumulators, reads its position while it holds it and is done after 0 to `max_hold` more
  // cycles (0: the next cycle). With `hold_start`, start_i stays high until the last group is
  // done: the conv must ignore it while busy.
  std::uint64_t run(const stqn_tb::ConvCase& cc, double p_ready, bool stem = false,
                    bool hold_start = false, int max_hold = 2) {
    const stqn_tb::ConvGeometry& g = cc.g;
    const stqn::Tensor expected = stqn::conv2d_accumulate(cc.golden, cc.in);
    if (stem) stqn_tb::stem::config_drive(h, g, kAddrBits);
    else stqn_tb::conv_config_drive(h, g, kAddrBits);
    h->cfg_int8_i = stem;
    h->start_i = 1;
    h.tick();
    h->start_i = hold_start;
    const std::uint64_t start = h.cycles();
    std::int64_t groups = 0;
    stqn_tb::Coin sink(rng, p_ready);
    bool held = false;
    int hold_left = 0;
    std::vector<std::int64_t> acc(kRows * kCols);
    const std::uint64_t limit = start + 100 + 4 * g.beats() / p_ready + 4 * g.groups() * max_hold;
    while (groups < g.groups() && h.cycles() < limit) {
      const bool done = held && hold_left == 0;
      h->out_done_i = done;
      h->out_ready_i = (!held || done) && sink.flip();
      h.settle();
      if (done) {
        const int y = h->out_y_o, xg = h->out_xg_o, og = h->out_og_o;
        for (int r = 0; r < kRows; ++r)
          for (int c = 0; c < kCols; ++c) {
            const int o = og * kRows + r, x = xg * kCols + c;
            if (o >= g.o || x >= g.wo()) continue;
            const std::int64_t got = acc[r * kCols + c];
            if (got != expected.at(o, y, x)) {
              ADD_FAILURE() << "channel " << o << " pixel (" << y << ", " << x << "): RTL " << got
                            << ", golden " << expected.at(o, y, x);
              return 0;
            }
          }
        ++groups;
        if (groups == g.groups()) {
          h->start_i = 0;  // busy until this group is done, so the held start never fired
          h.settle();
        }
      }
      const bool fire = h->out_valid_o && h->out_ready_i;
      if (fire) {
        for (int p = 0; p < kRows * kCols; ++p)
          acc[p] = stqn_tb::sign_extend(stqn_tb::field_get(h->out_acc_o, p * kAccBits, kAccBits), kAccBits);
      }
      h.tick();
      if (done) held = false;
      if (held) --hold_left;
      if (fire) {
        held = true;
        hold_left = max_hold > 0 ? static_cast<int>(rng() % (max_hold + 1)) : 0;
      }
    }
    h->out_done_i = 0;
    h->start_i = 0;
    EXPECT_EQ(groups, g.groups()) << "timed out";
    h.settle();
    EXPECT_EQ(h->busy_o, 0);
    EXPECT_FALSE(h.assertion_failed());
    return h.cycles() - start;
  }
};

TEST_F(Fixture, MatchesGoldenConvolutionUnderBackPressure) {
  h.reset();
  for (int n = 0; n < 20; ++n) {
    const auto cc = stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
    const auto& g = cc.g;
    SCOPED_TRACE(testing::Message() << "layer " << n << ": C=" << g.c << " O=" << g.o << " "
                                    << g.h << "x" << g.w << " K=" << g.k << " pad=" << g.pad
                                    << " planes w/a=" << g.wplanes << "/" << g.aplanes);
    load(cc);
    run(cc, n % 2 ? 1.0 : 0.5);
    if (HasFailure()) return;
    // The host read port returns what was loaded (and the layer did not disturb it).
    const auto banks = stqn_tb::act_image(g, cc.in, kBankDepth);
    for (int probe = 0; probe < 16; ++probe) {
      const int b = static_cast<int>(rng() % kCols);
      const int a = g.in_base + static_cast<int>(rng() % (g.act_words_per_bank() - g.in_base));
      if (banks[b][a][0] == kUnwritten) continue;
      h->act_rd_en_i = 1;
      h->act_rd_bank_i = b;
      h->act_rd_addr_i = a;
      h.tick();
      h->act_rd_en_i = 0;
      h->act_rd_bank_i = static_cast<int>(rng() % kCols);  // the data must not follow the select
      h.settle();
      for (int i = 0; i < kLanes; ++i)
        ASSERT_EQ(stqn_tb::field_get(h->act_rd_data_o, 2 * i, 2), stqn_tb::digit_encode(banks[b][a][i]))
            << "bank " << b << " address " << a << " lane " << i;
    }
  }
}

// One-beat groups (1x1 kernel, one chunk, one plane each) fill the array faster than a stalled
// output drains it, so the generator finishes while groups still wait: start_i held high through
// each layer must be ignored until the consumer is done with the last group (a second start would
// rewind the positions of the groups in flight), and the next layer then runs normally.
TEST_F(Fixture, StartIsIgnoredUntilTheLastGroupLeaves) {
  h.reset();
  for (int n = 0; n < 6; ++n) {
    const int c = 1 + static_cast<int>(rng() % kLanes), o = 1 + static_cast<int>(rng() % (3 * kRows));
    const int hh = 1 + static_cast<int>(rng() % 3), ww = 1 + static_cast<int>(rng() % (3 * kCols));
    const stqn_tb::ConvCase cc = ternary_case(c, o, hh, ww, /*k=*/1, /*pad=*/0);
    const stqn_tb::ConvGeometry& g = cc.g;
    SCOPED_TRACE(testing::Message() << "layer " << n << ": C=" << g.c << " O=" << g.o << " "
                                    << g.h << "x" << g.w);
    ASSERT_EQ(g.beats(), g.groups()) << "one beat per group";
    load(cc);
    run(cc, 0.3, false, /*hold_start=*/true);
    if (HasFailure()) return;
    const auto next = stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
    load(next);
    run(next, 0.6);
    if (HasFailure()) return;
  }
}

// Random stems (kernels 1, 3, 5, padding, every half-word position, extremes) alternating with ternary
// layers on the same datapath, under back-pressure.
TEST_F(Fixture, StemInt8MatchesGoldenAlternatingWithTernaryLayers) {
  h.reset();
  for (int n = 0; n < 12; ++n) {
    const auto cc = stqn_tb::stem::stem_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
    const auto& g = cc.g;
    SCOPED_TRACE(testing::Message() << "stem " << n << ": O=" << g.o << " " << g.h << "x" << g.w
                                    << " K=" << g.k << " pad=" << g.pad);
    load_stem(cc);
    run(cc, n % 2 ? 1.0 : 0.5, true);
    if (HasFailure()) return;
    const auto next = stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
    load(next);
    run(next, 0.7);
    if (HasFailure()) return;
  }
}

// The shipped reference package's stem (32 channels, int8 weights, 3x3, padding 1) on a real
// Fashion-MNIST test image, a random image and a saturated one (every pixel 255): bit-exact, one
// beat per tap per cycle (28 * ceil(28 / COLS) * ceil(32 / ROWS) * 9 beats + 3 cycles of latency).
TEST_F(Fixture, ReferenceStemRunsInt8AtOneBeatPerCycle) {
  const stqn::Package pkg = stqn::package_load(STQN_REFERENCE_PACKAGE);
  const stqn::Layer& stem = pkg.layers.at(0);
  ASSERT_EQ(stem.kernel, 3);
  ASSERT_EQ(stem.padding, 1);
  ASSERT_EQ(stem.weight_type.kind, stqn::format::WeightKind::Int);
  ASSERT_EQ(stem.weight_type.bits, 8);
  const stqn::Dataset data = stqn::idx_load(STQN_DATA_DIR, "t10k");
  const int index = static_cast<int>(seed % static_cast<std::uint64_t>(data.count));
  stqn_tb::ConvCase cc;
  stqn_tb::ConvGeometry& g = cc.g;
  g.lanes = kLanes, g.rows = kRows, g.cols = kCols;
  g.c = 1, g.h = 28, g.w = 28, g.k = 3, g.pad = 1, g.o = stem.out_channels;
  g.asigned = false, g.wint = true;
  cc.golden = stem;
  h.reset();
  for (const char* image : {"t10k", "random", "saturated"}) {
    cc.in = stqn::input_from_pixels(pkg, data.image(index), 28, 28);
    if (std::string(image) == "random") for (auto& v : cc.in.data) v = static_cast<int>(rng() % 256);
    if (std::string(image) == "saturated") for (auto& v : cc.in.data) v = 255;
    load_stem(cc);
    const std::uint64_t cycles = run(cc, 1.0, true, false, 0);
    if (HasFailure()) return;
    EXPECT_EQ(g.beats(), std::int64_t{28} * g.xgroups() * g.ogroups() * 9);
    EXPECT_EQ(cycles, static_cast<std::uint64_t>(g.beats()) + 3) << image;
    std::printf("[ cycles   ] stem int8 (%s%s): %llu cycles, %lld beats\n", image,
                std::string(image) == "t10k" ? (" #" + std::to_string(index)).c_str() : "",
                static_cast<unsigned long long>(cycles), static_cast<long long>(g.beats()));
  }
}

// Reset in the middle of a layer, either with every finished group waiting (take_first =
// false) or right after the consumer took the first group and before it was done with it: the
// conv is idle after the reset and runs the next layer bit-exactly.
void reset_mid_layer(Fixture& f, bool take_first) {
  auto& h = f.h;
  h.reset();
  const auto first = stqn_tb::conv_random(f.rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
  f.load(first);
  h->cfg_out_h_i = first.g.ho();
  h->cfg_out_w_i = first.g.wo();
  h->cfg_kernel_i = first.g.k;
  h->cfg_chunks_i = first.g.chunks();
  h->cfg_ogroups_i = first.g.ogroups();
  h->cfg_wplanes_i = first.g.wplanes;
  h->cfg_aplanes_i = first.g.aplanes;
  h->start_i = 1;
  h->out_ready_i = 0;
  for (int n = 0; n < 23; ++n) h.tick();
  h->start_i = 0;
  if (take_first) {
    for (int n = 0; n < 100000 && !h->out_valid_o; ++n) h.tick();
    ASSERT_EQ(h->out_valid_o, 1) << "no group finished";
    h->out_ready_i = 1;  // taken, never done
    h.tick();
    h->out_ready_i = 0;
    for (int n = 0; n < 5; ++n) h.tick();
  }
  h.reset(1);
  h.settle();
  EXPECT_EQ(h->busy_o, 0);
  EXPECT_EQ(h->out_valid_o, 0);
  const auto next = stqn_tb::conv_random(f.rng, kLanes, kRows, kCols, kBankDepth, kWDepth);
  f.load(next);
  f.run(next, 0.7);
}

TEST_F(Fixture, ResetMidLayerThenRunsNextLayer) { reset_mid_layer(*this, false); }
TEST_F(Fixture, ResetWithAGroupTakenButNotDoneThenRunsNextLayer) { reset_mid_layer(*this, true); }

// Blocks 1 to 4 of the reference network (ternary, 3x3, padding 1) where they fit this
// configuration's memories: bit-exact, and the cycle count is the beat count plus the pipeline
// latency, i.e. the array never idles inside a layer.
TEST_F(Fixture, ReferenceBlocksRunAtOneBeatPerCycle) {
  struct Block { const char* name; int c, o, size; };
  const Block blocks[] = {{"block1", 32, 32, 28}, {"block2", 32, 64, 14},
                          {"block3", 64, 64, 14}, {"block4", 64, 128, 7}};
  std::string json = "{\n  \"point\": \"" STQN_TB_POINT "\",\n  \"peak_macs_per_cycle\": " +
                     std::to_string(kLanes * kRows * kCols) + ",\n  \"layers\": [";
  int ran = 0;
  h.reset();
  for (const Block& b : blocks) {
    const stqn_tb::ConvCase cc = ternary_case(b.c, b.o, b.size, b.size, /*k=*/3, /*pad=*/1);
    const stqn_tb::ConvGeometry& g = cc.g;
    if (g.act_words_per_bank() > kBankDepth || g.weight_words() > kWDepth) {
      std::printf("[ skip     ] %s does not fit this configuration's memories\n", b.name);
      continue;
    }
    load(cc);
    const std::uint64_t cycles = run(cc, 1.0, false, false, 0);
    if (HasFailure()) return;
    const std::int64_t macs = std::int64_t{g.o} * g.ho() * g.wo() * 9 * g.c;
    const double util = double(macs) / (double(cycles) * kLanes * kRows * kCols);
    // Generator -> memory -> array stage 1 (the output beat) -> the sink is done a cycle later: 3
    // cycles of latency, no bubbles.
    EXPECT_EQ(cycles, static_cast<std::uint64_t>(g.beats()) + 3) << b.name;
    std::printf("[ cycles   ] %s: %llu cycles, %lld beats, %lld MACs, utilisation %.1f%%\n",
                b.name, static_cast<unsigned long long>(cycles), static_cast<long long>(g.beats()),
                static_cast<long long>(macs), 100.0 * util);
    json += std::string(ran++ ? "," : "") + "\n    {\"layer\": \"" + b.name +
            "\", \"cycles\": " + std::to_string(cycles) + ", \"beats\": " +
            std::to_string(g.beats()) + ", \"macs\": " + std::to_string(macs) +
            ", \"utilization\": " + std::to_string(util) + "}";
  }
  json += "\n  ]\n}\n";
  if (const char* out = std::getenv("STQN_BENCH_OUT"); out != nullptr && *out != '\0') {
    std::ofstream(out) << json;
  }
}

}  // namespace
