// stqn_maxpool: random code tensors of every activation kind (ternary, uint:K, int:K as digit
// planes) in banks served by a C++ memory model; windows and strides of several sizes; the words
// it writes must equal the golden maxpool_apply output laid out the same way, and it must read
// only words that hold data.
#include STQN_TB_HEADER

#include "stqn/reference.hpp"
#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"
#include "stqn_tb/layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kCols = STQN_P_COLS, kAddrBits = STQN_P_AW;
constexpr int kDepth = 1 << kAddrBits;
using Dut = STQN_TB_MODEL;
using stqn::format::ActKind;
using stqn_tb::Digits;
using stqn_tb::kUnwritten;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};
  void SetUp() override { h->start_i = 0; }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  void run_case(int n, bool sum) {
    const std::vector<stqn::ActType> types = {
        {ActKind::Ternary, 2}, {ActKind::Uint, 1}, {ActKind::Uint, 3}, {ActKind::Int, 4}, {ActKind::Uint, 8}};
    const stqn::ActType act = types[rng() % types.size()];
    stqn::Layer layer;
    layer.op = stqn::format::Op::MaxPool;
    layer.kernel = pick(1, 3);
    layer.stride = pick(1, 3);
    if (sum) layer.stride = 1;
    stqn_tb::ConvGeometry in;
    in.lanes = kLanes, in.rows = 1, in.cols = kCols;
    in.c = pick(1, 2 * kLanes + 1);
    in.h = pick(layer.kernel, 12);
    in.w = pick(layer.kernel, 12);
    if (sum) {  // global average pool: one window as large as the (square) map
      in.w = in.h;
      layer.kernel = in.h;
    }
    in.k = 1;
    in.aplanes = act.kind == ActKind::Ternary ? 1 : act.bits;
    in.asigned = act.kind != ActKind::Uint;
    in.in_base = pick(0, 5);
    stqn_tb::ConvGeometry out = in;
    out.h = (in.h - layer.kernel) / layer.stride + 1;
    out.w = (in.w - layer.kernel) / layer.stride + 1;
    out.in_base = in.act_words_per_bank() + pick(0, 3);
    layer.out_shape = stqn::Shape{in.c, out.h, out.w};
    stqn::Tensor t(stqn::Shape{in.c, in.h, in.w});
    const auto range = act.range();
    for (auto& v : t.data) v = pick(range.lo, range.hi);
    const stqn::Tensor expected = sum ? stqn::global_avgpool_apply(t) : stqn::maxpool_apply(layer, t);
    int out_planes = in.aplanes;
    if (sum) {  // int:P wide enough for the largest |sum|
      const int bound = in.h * in.w * std::max(-range.lo, range.hi);
      out_planes = 2;
      while ((1 << (out_planes - 1)) <= bound) ++out_planes;
      if (out_planes > 15) return;  // sums must fit CODE_W = 16 bits and 15 planes
      out.aplanes = out_planes;
      out.asigned = true;
    }
    SCOPED_TRACE(testing::Message() << "case " << n << (sum ? " (sum)" : "") << ": " << act.name() << " C=" << in.c << " "
                                    << in.h << "x" << in.w << " k=" << layer.kernel
                                    << " s=" << layer.stride);

    if (out.act_words_per_bank() > kDepth) return;
    auto banks = stqn_tb::act_image(in, t, kDepth);
    const auto want = stqn_tb::act_image(out, expected, kDepth);
    std::vector<std::vector<Digits>> got(kCols, std::vector<Digits>(kDepth, Digits(kLanes, kUnwritten)));

    h->cfg_in_wb_i = in.wb();
    h->cfg_out_h_i = out.h;
    h->cfg_out_w_i = out.w;
    h->cfg_out_wb_i = out.wb();
    h->cfg_kernel_i = layer.kernel;
    h->cfg_stride_i = layer.stride;
    h->cfg_chunks_i = in.chunks();
    h->cfg_planes_i = in.aplanes;
    h->cfg_sum_i = sum;
    h->cfg_out_planes_i = out_planes;
    h->cfg_ternary_i = !sum && act.kind == ActKind::Ternary;
    h->cfg_signed_i = sum || act.kind == ActKind::Int;
    h->cfg_in_base_i = in.in_base;
    h->cfg_out_base_i = out.in_base;
    h->start_i = 1;
    h.tick();
    h->start_i = 0;
    const std::uint64_t limit =
        h.cycles() + 100 + std::uint64_t(out.h) * out.w * in.chunks() * (in.aplanes * layer.kernel * layer.kernel + 2 + out_planes) * 2;
    for (;;) {
      h.settle();
      if (!h->busy_o || h.cycles() > limit) break;
      const bool rd = h->rd_en_o;
      const int rb = h->rd_bank_o, ra = h->rd_addr_o;
      if (h->wr_en_o) {
        Digits& w = got[h->wr_bank_o][h->wr_addr_o];
        for (int i = 0; i < kLanes; ++i)
          w[i] = stqn_tb::digit_decode(static_cast<std::uint32_t>(stqn_tb::field_get(h->wr_data_o, 2 * i, 2)));
      }
      h.tick();
      if (rd) {
        const Digits& word = banks[rb][ra];
        ASSERT_NE(word[0], kUnwritten) << "read of an empty word: bank " << rb << " address " << ra;
        for (int i = 0; i < kLanes; ++i)
          stqn_tb::field_put(h->rd_data_i, 2 * i, 2, stqn_tb::digit_encode(word[i]));
      } else {
        h->rd_data_i = static_cast<std::uint32_t>(rng());  // garbage when nothing was read
      }
    }
    ASSERT_EQ(h->busy_o, 0) << "did not finish";
    for (int b = 0; b < kCols; ++b)
      for (int a = 0; a < kDepth; ++a) {
        if (want[b][a][0] == kUnwritten) {
          ASSERT_EQ(got[b][a][0], kUnwritten) << "write outside the output: bank " << b << " address " << a;
          continue;
        }
        for (int i = 0; i < kLanes; ++i) {
          ASSERT_EQ(got[b][a][i], want[b][a][i]) << "bank " << b << " address " << a << " lane " << i;
        }
      }
  }
};

TEST_F(Fixture, MatchesGoldenMaxPoolOnCodes) {
  h.reset();
  for (int n = 0; n < 40; ++n) {
    run_case(n, false);
    if (HasFailure()) return;
  }
}

TEST_F(Fixture, WindowSumMatchesGoldenGlobalAveragePool) {
  h.reset();
  for (int n = 0; n < 30; ++n) {
    run_case(n, true);
    if (HasFailure()) return;
  }
}

}  // namespace
