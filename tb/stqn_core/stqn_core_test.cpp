// stqn_core: whole conv layers (conv + multi-threshold + write-back of codes as digit planes,
// with the fused 2 x 2 max-pool or global sum-pool), loaded and read back through the host port,
// compared bit-exactly with the golden model's threshold_apply(conv2d_accumulate(...)) and
// maxpool_apply / global_avgpool_apply, naming layer, channel and pixel; two layers chained
// through the activation banks (ping-pong by base address); the reference network; reset in the
// middle of a layer.
#include STQN_TB_HEADER

#include "stqn/fileio.hpp"
#include "stqn/idx.hpp"
#include "stqn/random_package.hpp"
#include "stqn/reference.hpp"
#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"
#include "stqn_tb/layout.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kRows = STQN_P_ROWS, kCols = STQN_P_COLS;
constexpr int kAccBits = STQN_P_ACC_W, kNth = STQN_P_NTH;
constexpr int kBankDepth = STQN_P_ACT_BANK_DEPTH, kWDepth = STQN_P_WGT_DEPTH;
constexpr int kAddrBits = [] { int b = 0; while ((1 << b) < kBankDepth) ++b; return b; }();
constexpr int kTDepth = STQN_P_THR_DEPTH;
constexpr int kCodeBits = 9;
using Dut = STQN_TB_MODEL;
using stqn::format::ActKind;
using stqn_tb::Digits;
using stqn_tb::kUnwritten;

struct LayerRun {
  stqn_tb::ConvCase cc;   // input side: geometry, weights, input tensor
  stqn_tb::ConvGeometry out;  // output tensor layout (c = O, planes of out_act, base)
  int thr_base = 0;
  int pool = 0;           // fused pooling (cfg_pool_i): 0 none, 1 max 2 x 2 / 2, 2 global sum
  stqn::Tensor expected;  // golden output: codes (O, Ho, Wo), pooled codes or sums
};

constexpr int kPoolMax = 1, kPoolSum = 2;

int planes_of(const stqn::ActType& t) { return t.kind == ActKind::Ternary ? 1 : t.bits; }

// Int planes that hold every sum of h * w codes of type `act` (the compiler's choice).
int sum_planes(const stqn::ActType& act, int h, int w) {
  const std::int64_t bound = std::int64_t{h} * w * act.range().max_abs();
  int planes = 2;
  while ((std::int64_t{1} << (planes - 1)) <= bound) ++planes;
  return planes;
}

// Turns a finished (unpooled) layer into one with a fused pool: the golden pooled output and its
// layout in place of the codes'. False if the map is too small for a 2 x 2 window.
bool pool_fuse(LayerRun& L, int pool) {
  stqn_tb::ConvGeometry& out = L.out;
  L.pool = pool;
  if (pool == kPoolMax) {
    if (out.h < 2 || out.w < 2) return false;
    stqn::Layer p;
    p.op = stqn::format::Op::MaxPool;
    p.kernel = 2, p.stride = 2;
    p.out_shape = stqn::Shape{out.c, out.h / 2, out.w / 2};
    L.expected = stqn::maxpool_apply(p, L.expected);
    out.h /= 2, out.w /= 2;
  } else if (pool == kPoolSum) {
    out.aplanes = sum_planes(L.cc.golden.out_act, out.h, out.w);
    out.asigned = true;
    L.expected = stqn::global_avgpool_apply(L.expected);
    out.h = out.w = 1;
  }
  return true;
}

// Output side of a layer: a random activation type, thresholds calibrated on the layer's own
// accumulators (plus edge cases), placed after `first_free` in the banks.
bool layer_finish(LayerRun& L, std::mt19937_64& rng, int first_free) {
  const std::vector<stqn::ActType> types = {
      {ActKind::Ternary, 2}, {ActKind::Uint, 1}, {ActKind::Uint, 2}, {ActKind::Int, 3}, {ActKind::Uint, 3}};
  stqn::Layer& layer = L.cc.golden;
  layer.out_act = types[rng() % types.size()];
  const stqn::Tensor acc = stqn::conv2d_accumulate(layer, L.cc.in);
  const int levels = layer.out_act.num_thresholds();
  layer.thresholds.clear();
  for (int o = 0; o < L.cc.g.o; ++o) {
    std::vector<std::int32_t> t;
    for (int l = 0; l < levels; ++l) {
      switch (rng() % 10) {
        case 0: t.push_back(std::numeric_limits<std::int32_t>::min()); break;
        case 1: t.push_back(std::numeric_limits<std::int32_t>::max()); break;
        default: t.push_back(acc.data[rng() % acc.data.size()] + static_cast<int>(rng() % 3) - 1);
      }
    }
    std::sort(t.begin(), t.end());
    layer.thresholds.insert(layer.thresholds.end(), t.begin(), t.end());
  }
  L.expected = stqn::threshold_apply(layer, acc);

  stqn_tb::ConvGeometry& out = L.out;
  out.lanes = kLanes, out.rows = kRows, out.cols = kCols;
  out.c = L.cc.g.o, out.h = L.cc.g.ho(), out.w = L.cc.g.wo(), out.k = 1;
  out.aplanes = planes_of(layer.out_act);
  out.asigned = layer.out_act.kind != ActKind::Uint;
  out.in_base = first_free + static_cast<int>(rng() % 4);
  L.thr_base = static_cast<int>(rng() % 8);
  const int thr_words = (levels + kNth - 1) / kNth;
  return out.act_words_per_bank() <= kBankDepth && L.thr_base + L.cc.g.o * thr_words <= kTDepth;
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  void SetUp() override {
    h->start_i = 0;
    h->act_wr_en_i = 0;
    h->act_rd_en_i = 0;
    h->w_wr_en_i = 0;
    h->thr_wr_en_i = 0;
    h->cfg_logits_i = 0;
    h->cfg_pool_i = 0;
    h->cfg_int8_i = 0;  // the int8 stem mode runs through stqn_conv and stqn_top's tests
  }

  void load_acts(const stqn_tb::ConvGeometry& g, const stqn::Tensor& t) {
    const auto banks = stqn_tb::act_image(g, t, kBankDepth);
    h->act_wr_en_i = 1;
    for (int b = 0; b < kCols; ++b)
      for (int a = g.in_base; a < g.act_words_per_bank(); ++a) {
        if (banks[b][a][0] == kUnwritten) continue;
        h->act_wr_bank_i = b;
        h->act_wr_addr_i = a;
        for (int i = 0; i < kLanes; ++i)
          stqn_tb::field_put(h->act_wr_data_i, 2 * i, 2, stqn_tb::digit_encode(banks[b][a][i]));
        h.tick();
      }
    h->act_wr_en_i = 0;
  }

  // logits: the layer's int32 biases go to threshold words thr_base + o instead of thresholds.
  void load_layer(const LayerRun& L, bool logits = false) {
    const auto& g = L.cc.g;
    const auto wmem = stqn_tb::weight_image(g, L.cc.golden.weights, kWDepth);
    h->w_wr_en_i = 1;
    for (int a = g.w_base; a < g.weight_words(); ++a) {
      h->w_wr_addr_i = a;
      for (int i = 0; i < kRows * kLanes; ++i)
        stqn_tb::field_put(h->w_wr_data_i, 2 * i, 2, stqn_tb::digit_encode(wmem[a][i]));
      h.tick();
    }
    h->w_wr_en_i = 0;
    if (logits) {
      h->thr_wr_en_i = 1;
      for (int o = 0; o < g.o; ++o) {
        h->thr_wr_addr_i = L.thr_base + o;
        stqn_tb::field_put(h->thr_wr_data_i, 0, kNth * kAccBits, 0);
        stqn_tb::field_put(h->thr_wr_data_i, 0, 32, static_cast<std::uint32_t>(L.cc.golden.bias[o]));
        h.tick();
      }
      h->thr_wr_en_i = 0;
      return;
    }
    // Thresholds: channel o at thr_base + o * words, NTH per word, saturated to ACC_W.
    const int levels = L.cc.golden.out_act.num_thresholds();
    const int words = (levels + kNth - 1) / kNth;
    // Bound of every partial sum (docs/architecture.md section 5): fan_in * Dw * Da.
    const std::int64_t bound = std::int64_t{g.k} * g.k * g.c * ((1 << g.wplanes) - 1) *
                               ((1 << g.aplanes) - 1);
    h->thr_wr_en_i = 1;
    for (int o = 0; o < g.o; ++o)
      for (int j = 0; j < words; ++j) {
        h->thr_wr_addr_i = L.thr_base + o * words + j;
        for (int l = 0; l < kNth; ++l) {
          const int idx = j * kNth + l;
          const std::int32_t t = idx < levels ? stqn_tb::threshold_saturate(
                                                    L.cc.golden.thresholds[o * levels + idx], kAccBits, bound)
                                              : 0;
          stqn_tb::field_put(h->thr_wr_data_i, l * kAccBits, kAccBits, static_cast<std::uint32_t>(t));
        }
        h.tick();
      }
    h->thr_wr_en_i = 0;
  }

  void run_layer(const LayerRun& L, bool logits = false) {
    const auto& g = L.cc.g;
    const auto& act = L.cc.golden.out_act;
    stqn_tb::conv_config_drive(h, g, kAddrBits);
    h->cfg_out_planes_i = L.out.aplanes;
    h->cfg_out_ternary_i = L.pool != kPoolSum && act.kind == ActKind::Ternary;
    h->cfg_out_signed_i = L.pool == kPoolSum || act.kind == ActKind::Int;
    h->cfg_act_min_i = static_cast<std::uint32_t>(act.range().lo) & ((1u << kCodeBits) - 1);
    h->cfg_levels_i = act.num_thresholds();
    h->cfg_thr_words_i = logits ? 1 : (act.num_thresholds() + kNth - 1) / kNth;
    h->cfg_logits_i = logits;
    h->cfg_pool_i = L.pool;
    h->cfg_thr_base_i = L.thr_base;
    h->cfg_out_base_i = L.out.in_base;
    h->start_i = 1;
    h.tick();
    h->start_i = 0;
    const std::uint64_t limit = h.cycles() + 1000 + 4 * g.beats() + 40 * g.groups();
    do {
      h.tick();
      h.settle();
    } while (h->busy_o && h.cycles() < limit);
    ASSERT_EQ(h->busy_o, 0) << "layer did not finish";
    EXPECT_FALSE(h.assertion_failed());
  }

  // One bank word through the host port (the layer is idle): 2 * kLanes bits.
  std::uint64_t bank_word(int bank, int addr) {
    h->act_rd_en_i = 1;
    h->act_rd_bank_i = bank;
    h->act_rd_addr_i = addr;
    h.tick();
    h->act_rd_en_i = 0;
    h.settle();
    return stqn_tb::field_get(h->act_rd_data_o, 0, 2 * kLanes);
  }

  // Reads the output region back and compares every lane of a real channel with the golden codes.
  void check_output(const LayerRun& L, const char* name) {
    const auto banks = stqn_tb::act_image(L.out, L.expected, kBankDepth);
    const auto& out = L.out;
    for (int y = 0; y < out.h; ++y)
      for (int x = 0; x < out.w; ++x)
        for (int k = 0; k < out.chunks(); ++k)
          for (int b = 0; b < out.aplanes; ++b) {
            const int bank = x % kCols;
            const int addr = out.in_base + ((y * out.wb() + x / kCols) * out.chunks() + k) * out.aplanes + b;
            const std::uint64_t word = bank_word(bank, addr);
            for (int i = 0; i < kLanes && k * kLanes + i < out.c; ++i) {
              const int o = k * kLanes + i;
              const int got = stqn_tb::digit_decode(static_cast<std::uint32_t>((word >> (2 * i)) & 3u));
              ASSERT_EQ(got, banks[bank][addr][i])
                  << name << ": channel " << o << " pixel (" << y << ", " << x << ") plane " << b
                  << " (code " << L.expected.at(o, y, x) << ", " << L.cc.golden.out_act.name() << ")";
            }
          }
  }

  // Every word of every bank, read through the host port (the layer is idle).
  std::vector<std::vector<std::uint64_t>> banks_read() {
    std::vector<std::vector<std::uint64_t>> words(kCols, std::vector<std::uint64_t>(kBankDepth));
    for (int b = 0; b < kCols; ++b)
      for (int a = 0; a < kBankDepth; ++a) words[b][a] = bank_word(b, a);
    return words;
  }

  // The layer wrote only inside its output region: every other word is as it was.
  void check_untouched(const std::vector<std::vector<std::uint64_t>>& before, const LayerRun& L,
                       const char* name) {
    const auto after = banks_read();
    const int lo = L.out.in_base, hi = L.out.act_words_per_bank();
    for (int b = 0; b < kCols; ++b)
      for (int a = 0; a < kBankDepth; ++a)
        if (a < lo || a >= hi) {
          ASSERT_EQ(after[b][a], before[b][a])
              << name << ": bank " << b << " word " << a << " outside the output region [" << lo << ", "
              << hi << ") changed";
        }
  }

  LayerRun layer_random() {
    for (;;) {
      LayerRun L;
      L.cc = stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth, 10);
      if (layer_finish(L, rng, L.cc.g.act_words_per_bank())) return L;
    }
  }
};

TEST_F(Fixture, ConvLayersMatchGoldenCodes) {
  h.reset();
  for (int n = 0; n < 12; ++n) {
    const LayerRun L = layer_random();
    const auto& g = L.cc.g;
    SCOPED_TRACE(testing::Message() << "layer " << n << ": C=" << g.c << " O=" << g.o << " " << g.h
                                    << "x" << g.w << " K=" << g.k << " pad=" << g.pad << " planes w/a="
                                    << g.wplanes << "/" << g.aplanes << " -> "
                                    << L.cc.golden.out_act.name());
    load_acts(g, L.cc.in);
    load_layer(L);
    const auto before = banks_read();
    run_layer(L);
    check_output(L, "layer");
    check_untouched(before, L, "layer");
    if (HasFailure()) return;
  }
}

TEST_F(Fixture, TwoLayersChainThroughTheBanks) {
  h.reset();
  for (int n = 0; n < 4; ++n) {
    LayerRun A = layer_random();
    // B reads A's output where A wrote it and writes back below it (ping-pong by base address).
    LayerRun B;
    bool ok = false;
    for (int tries = 0; tries < 100 && !ok; ++tries) {
      B.cc = stqn_tb::conv_random(rng, kLanes, kRows, kCols, kBankDepth, kWDepth, 10);
      stqn_tb::ConvGeometry& g = B.cc.g;
      const int k = g.k;
      if (A.out.h + 2 * g.pad < k || A.out.w + 2 * g.pad < k) continue;
      g.c = A.out.c, g.h = A.out.h, g.w = A.out.w, g.aplanes = A.out.aplanes;
      g.asigned = A.out.asigned, g.in_base = A.out.in_base;
      if (g.weight_words() > kWDepth) continue;
      B.cc.golden.out_shape = stqn::Shape{g.o, g.ho(), g.wo()};
      B.cc.golden.weights.resize(std::size_t(g.o) * k * k * g.c);
      for (auto& w : B.cc.golden.weights)
        w = static_cast<std::int8_t>(g.wplanes == 1 ? int(rng() % 3) - 1 : 2 * int(rng() % 4) - 3);
      B.cc.in = A.expected;
      ok = layer_finish(B, rng, 0);
      // B's output must not overlap its input (A's output).
      ok = ok && B.out.act_words_per_bank() <= A.out.in_base;
    }
    if (!ok) continue;
    load_acts(A.cc.g, A.cc.in);
    load_layer(A);
    run_layer(A);
    check_output(A, "first layer");
    load_layer(B);
    run_layer(B);
    check_output(B, "second layer");
    if (HasFailure()) return;
  }
}

// The reference network's blocks (ternary 3x3, padding 1, ternary codes out) with their fused
// pools (max-pool after blocks 1 and 3, the global sum-pool after block 4), where input and
// pooled output fit the banks together (on up5k: all four): bit-exact, and the write-back keeps
// up with the array (cycles = beats + a constant latency). With STQN_BENCH_OUT set, the cycle
// table goes to that file as JSON (make bench-rtl, the ecp5 point).
TEST_F(Fixture, ReferenceBlocksKeepTheArrayBusy) {
  struct Block { const char* name; int c, o, size, pool; };
  const Block blocks[] = {{"block1+pool1", 32, 32, 28, kPoolMax}, {"block2", 32, 64, 14, 0},
                          {"block3+pool2", 64, 64, 14, kPoolMax}, {"block4+gap", 64, 128, 7, kPoolSum}};
  const int peak = kLanes * kRows * kCols;
  nlohmann::json table = nlohmann::json::array();
  h.reset();
  for (const Block& b : blocks) {
    LayerRun L;
    stqn_tb::ConvGeometry& g = L.cc.g;
    g.lanes = kLanes, g.rows = kRows, g.cols = kCols;
    g.c = b.c, g.o = b.o, g.h = b.size, g.w = b.size, g.k = 3, g.pad = 1;
    L.cc.golden.kernel = 3;
    L.cc.golden.stride = 1;
    L.cc.golden.padding = 1;
    L.cc.golden.out_channels = g.o;
    L.cc.golden.out_shape = stqn::Shape{g.o, g.ho(), g.wo()};
    for (int n = 0; n < g.o * 9 * g.c; ++n)
      L.cc.golden.weights.push_back(static_cast<std::int8_t>(int(rng() % 3) - 1));
    L.cc.in = stqn::Tensor(stqn::Shape{g.c, g.h, g.w});
    for (auto& v : L.cc.in.data) v = int(rng() % 3) - 1;
    layer_finish(L, rng, g.act_words_per_bank());  // the layout; the output type is set below
    // Ternary codes out, as in the reference network.
    L.cc.golden.out_act = {ActKind::Ternary, 2};
    const stqn::Tensor acc = stqn::conv2d_accumulate(L.cc.golden, L.cc.in);
    L.cc.golden.thresholds.clear();
    for (int o = 0; o < g.o; ++o) {
      std::int32_t t0 = acc.data[rng() % acc.data.size()], t1 = acc.data[rng() % acc.data.size()];
      L.cc.golden.thresholds.push_back(std::min(t0, t1));
      L.cc.golden.thresholds.push_back(std::max(t0, t1));
    }
    L.expected = stqn::threshold_apply(L.cc.golden, acc);
    L.out.aplanes = 1;
    L.out.asigned = true;
    ASSERT_TRUE(pool_fuse(L, b.pool));
    if (L.out.act_words_per_bank() > kBankDepth || g.weight_words() > kWDepth ||
        L.thr_base + g.o > kTDepth) {
      std::printf("[ skip     ] %s does not fit this configuration's memories\n", b.name);
      continue;
    }
    load_acts(g, L.cc.in);
    load_layer(L);
    const std::uint64_t start = h.cycles();
    run_layer(L);
    const std::uint64_t cycles = h.cycles() - start;
    check_output(L, b.name);
    if (HasFailure()) return;
    const std::int64_t macs = std::int64_t{g.o} * g.ho() * g.wo() * 9 * g.c;
    const double util = double(macs) / (double(cycles) * peak);
    std::printf("[ cycles   ] %s: %llu cycles (start to idle), %lld beats, utilisation %.1f%%\n",
                b.name, static_cast<unsigned long long>(cycles), static_cast<long long>(g.beats()),
                100.0 * util);
    EXPECT_LE(cycles, static_cast<std::uint64_t>(g.beats()) + 32) << b.name;
    table.push_back({{"layer", b.name}, {"cycles", cycles}, {"beats", g.beats()}, {"macs", macs},
                     {"utilization", util}});
  }
  if (const char* out = std::getenv("STQN_BENCH_OUT"); out != nullptr && *out != '\0') {
    const nlohmann::json doc = {
        {"point", STQN_TB_POINT},
        {"what", "stqn_core alone: the testbench starts each block, cycles from start to idle"},
        {"array", std::to_string(kLanes) + " lanes x " + std::to_string(kRows) + " rows x " +
                      std::to_string(kCols) + " cols"},
        {"thr_units", STQN_P_THR_UNITS},
        {"peak_macs_per_cycle", peak},
        {"layers", table}};
    stqn::file_write_atomic(out, doc.dump(2) + "\n");
  }
}

// Random conv layers with a fused 2 x 2 max-pool (odd sizes drop their last row or column) or a
// fused global sum-pool, read back and compared with the golden maxpool_apply /
// global_avgpool_apply of the golden layer output.
TEST_F(Fixture, ConvWithFusedPoolMatchesGolden) {
  h.reset();
  int pooled[3] = {};
  for (int n = 0; n < 16; ++n) {
    LayerRun A = layer_random();
    const int pool = 1 + n % 2;
    if (!pool_fuse(A, pool) || A.out.aplanes > 15) continue;
    SCOPED_TRACE(testing::Message() << "case " << n << ": " << A.cc.golden.out_act.name() << " C="
                                    << A.cc.g.c << " O=" << A.cc.g.o << " conv out " << A.cc.g.ho()
                                    << "x" << A.cc.g.wo() << (pool == kPoolMax ? " max-pool" : " sum-pool"));
    load_acts(A.cc.g, A.cc.in);
    load_layer(A);
    const auto before = banks_read();
    run_layer(A);
    check_output(A, pool == kPoolMax ? "max-pool" : "sum-pool");
    check_untouched(before, A, pool == kPoolMax ? "max-pool" : "sum-pool");
    if (HasFailure()) return;
    ++pooled[pool];
  }
  EXPECT_GT(pooled[kPoolMax], 0);
  EXPECT_GT(pooled[kPoolSum], 0);
}

// The reference network (docs/reference-net.md) with random ternary codes and calibrated
// thresholds, on a real Fashion-MNIST test image: the stem (int8 weights on uint8 pixels, 8 x 8
// digit planes), blocks 1-4 with both max-pools and the global average pool (sums as int7 planes)
// fused into their write-backs, and the dense logits layer (int8 weights on int7 sums, + int32
// bias) run through the RTL, each step's output read back and compared with reference_forward's,
// and the predicted class.
// Needs 2048 words per bank (the stem's 8-plane input); runs at the "ref" parameter point.
TEST_F(Fixture, ReferenceNetworkConvLayersMatchGolden) {
  if (kBankDepth < 2048) GTEST_SKIP() << "needs ACT_BANK_DEPTH >= 2048 (the ref point)";
  const stqn::ActType ternary{ActKind::Ternary, 2};
  const stqn::Package pkg =
      stqn::reference_topology_package(seed, {stqn::format::WeightKind::Ternary, 2}, ternary);
  const stqn::Dataset data = stqn::idx_load(STQN_DATA_DIR, "t10k");
  const int index = static_cast<int>(seed % static_cast<std::uint64_t>(data.count));
  std::printf("[ image    ] t10k #%d\n", index);
  const stqn::Tensor input = stqn::input_from_pixels(pkg, data.image(index), 28, 28);
  const std::vector<stqn::Tensor> golden = stqn::reference_forward(pkg, input);

  const int regions[2] = {0, 1600};
  int region = 0;
  // The stem runs as a 1x1 conv over the im2col'd image (docs/architecture.md section 8): the
  // host writes the 9 taps of each pixel's 3x3 window (zero outside) as 9 channels, and the stem's
  // weights (O, 3, 3, 1) are the same numbers read as (O, 1, 1, 9). Pure data movement.
  const stqn::Layer& stem = pkg.layers[0];
  ASSERT_EQ(stem.kernel, 3);
  ASSERT_EQ(stem.padding, 1);
  stqn::Tensor taps(stqn::Shape{9, 28, 28});
  for (int ky = 0; ky < 3; ++ky)
    for (int kx = 0; kx < 3; ++kx)
      for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
          const int iy = y + ky - 1, ix = x + kx - 1;
          taps.at(ky * 3 + kx, y, x) =
              (iy < 0 || iy >= 28 || ix < 0 || ix >= 28) ? 0 : input.at(0, iy, ix);
        }
  stqn_tb::ConvGeometry cur;  // layout of the tensor the next layer reads
  cur.lanes = kLanes, cur.rows = kRows, cur.cols = kCols;
  cur.c = 9, cur.h = 28, cur.w = 28, cur.k = 1, cur.aplanes = 8, cur.asigned = false;
  cur.in_base = regions[region];
  h.reset();
  load_acts(cur, taps);
  int checked = 0;
  for (std::size_t li = 0; li < pkg.layers.size(); ++li) {
    const stqn::Layer& layer = pkg.layers[li];
    if (layer.op == stqn::format::Op::Dense) {
      // The logits layer: a 1x1 conv on the 1x1 map of GAP sums (int7 planes) with int8 weights.
      LayerRun D;
      D.cc.golden = layer;
      D.cc.golden.kernel = 1;
      D.cc.golden.padding = 0;
      D.cc.golden.out_act = ternary;  // unused in logits mode
      stqn_tb::ConvGeometry& g = D.cc.g;
      g = cur;
      g.o = layer.out_channels, g.k = 1, g.pad = 0, g.w_base = 0;
      g.wint = true;
      g.wplanes = layer.weight_type.bits;
      ASSERT_EQ(layer.weight_type.kind, stqn::format::WeightKind::Int);
      ASSERT_EQ(cur.h * cur.w, 1);
      D.out = cur;
      D.out.c = g.o;
      D.thr_base = 0;
      load_layer(D, true);
      const std::uint64_t run_start = h.cycles();
      run_layer(D, true);
      std::printf("[ cycles   ] %s: %llu (beats %lld)\n", layer.name.c_str(),
                  static_cast<unsigned long long>(h.cycles() - run_start),
                  static_cast<long long>(g.beats()));
      const stqn::Tensor& want = golden[li];
      std::vector<std::int32_t> logits(g.o);
      for (int o = 0; o < g.o; ++o) {
        h->logit_rd_addr_i = o;
        h.tick();  // registered read
        h.settle();
        logits[o] = static_cast<std::int32_t>(h->logit_rd_data_o);
        EXPECT_EQ(logits[o], want.data[o]) << layer.name << ": logit " << o;
      }
      EXPECT_EQ(stqn::logits_argmax(logits.data(), g.o), stqn::logits_argmax(want.data.data(), g.o));
      std::printf("[ class    ] %d (label %d)\n", stqn::logits_argmax(logits.data(), g.o),
                  int(data.labels[index]));
      ++checked;
      break;
    }
    ASSERT_EQ(layer.op, stqn::format::Op::Conv2d) << layer.name;
    // A max-pool or the global average pool after a conv runs fused into its write-back.
    const std::size_t next = li + 1;
    const bool fused_max = next < pkg.layers.size() && pkg.layers[next].op == stqn::format::Op::MaxPool;
    const bool fused_sum = next < pkg.layers.size() && pkg.layers[next].op == stqn::format::Op::GlobalAvgPool;
    const stqn::ActType act = layer.out_act;
    region ^= 1;
    LayerRun L;
    L.cc.golden = layer;
    L.pool = fused_max ? kPoolMax : (fused_sum ? kPoolSum : 0);
    if (fused_max) {
      ASSERT_TRUE(pkg.layers[next].kernel == 2 && pkg.layers[next].stride == 2);
    }
    const std::size_t out_layer = L.pool != 0 ? next : li;
    L.expected = golden[out_layer];
    L.out = cur;
    L.out.c = L.expected.shape.c, L.out.h = L.expected.shape.h, L.out.w = L.expected.shape.w;
    L.out.aplanes = planes_of(act);
    L.out.asigned = act.kind != ActKind::Uint;
    stqn_tb::ConvGeometry& g = L.cc.g;
    g = cur;
    g.o = layer.out_channels, g.k = layer.kernel, g.pad = layer.padding;
    if (fused_sum) {  // sums of the conv's H*W codes as int:P, P large enough for |sum| <= H*W*max
      L.out.aplanes = sum_planes(act, g.ho(), g.wo());
      L.out.asigned = true;
    }
    L.out.in_base = regions[region];
    ASSERT_LE(L.out.act_words_per_bank(), kBankDepth) << layer.name;
    if (li == 0) {  // im2col'd stem: a 1x1 conv over the 9 tap channels
      g.k = 1, g.pad = 0;
      L.cc.golden.kernel = 1;
      L.cc.golden.padding = 0;
    }
    g.wint = layer.weight_type.kind == stqn::format::WeightKind::Int;
    g.wplanes = layer.weight_type.kind == stqn::format::WeightKind::Ternary ? 1 : layer.weight_type.bits;
    g.w_base = 0;
    ASSERT_EQ(layer.stride, 1);
    L.thr_base = 0;
    load_layer(L);
    const std::uint64_t run_start = h.cycles();
    run_layer(L);
    const std::string name = layer.name + (L.pool != 0 ? "+" + pkg.layers[next].name : "");
    std::printf("[ cycles   ] %s: %llu (beats %lld)\n", name.c_str(),
                static_cast<unsigned long long>(h.cycles() - run_start),
                static_cast<long long>(g.beats()));
    check_output(L, name.c_str());
    if (HasFailure()) return;
    ++checked;
    cur = L.out;
    li = out_layer;
  }
  EXPECT_EQ(checked, 6);  // stem, block1+pool1, block2, block3+pool2, block4+gap, logits
}

TEST_F(Fixture, ResetMidLayerThenRunsNextLayer) {
  h.reset();
  const LayerRun first = layer_random();
  load_acts(first.cc.g, first.cc.in);
  load_layer(first);
  h->cfg_out_h_i = first.cc.g.ho();
  h->start_i = 1;
  h.tick();
  h->start_i = 0;
  for (int n = 0; n < 37; ++n) h.tick();
  h.reset(1);
  h.settle();
  EXPECT_EQ(h->busy_o, 0);
  const LayerRun next = layer_random();
  load_acts(next.cc.g, next.cc.in);
  load_layer(next);
  run_layer(next);
  check_output(next, "layer after reset");
}

}  // namespace
