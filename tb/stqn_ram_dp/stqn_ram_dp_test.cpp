// stqn_ram_dp: random masked writes and reads against a C++ array: one-cycle read latency, only
// the enabled GRAIN-bit segments of a word change, output held while no read is issued. Reads
// hit the word being written only with READ_FIRST (then they return the old word); otherwise
// that is undefined by the module's contract, and asserted out of reset.
#include STQN_TB_HEADER

#include "stqn_tb/harness.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace {

constexpr int kWidth = STQN_P_WIDTH, kDepth = STQN_P_DEPTH, kGrain = STQN_P_GRAIN;
constexpr int kSegs = kWidth / kGrain;
#ifdef STQN_P_READ_FIRST
constexpr bool kReadFirst = STQN_P_READ_FIRST != 0;
#else
constexpr bool kReadFirst = false;
#endif
using Dut = STQN_TB_MODEL;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  void SetUp() override { h.reset(); }
};

TEST_F(Fixture, MatchesModelUnderRandomTraffic) {
  const std::uint64_t mask = kWidth >= 64 ? ~0ull : ((1ull << kWidth) - 1);
  std::vector<std::optional<std::uint64_t>> model(kDepth);  // nullopt: not all bits written yet
  std::vector<std::uint64_t> written(kDepth, 0), value(kDepth, 0);
  std::optional<std::uint64_t> expected_out;
  std::uniform_int_distribution<int> addr(0, kDepth - 1);
  int checked = 0, collisions = 0;
  for (int cycle = 0; cycle < 20000; ++cycle) {
    const bool we = rng() % 2, re = rng() % 3 != 0;
    // Some segments, or (a third of the time) the whole word.
    const std::uint64_t seg_all = kSegs >= 64 ? ~0ull : ((1ull << kSegs) - 1);
    const std::uint64_t en = !we ? 0 : (rng() % 3 == 0 ? seg_all : (rng() & seg_all));
    const int wa = addr(rng);
    int ra = addr(rng);
    if (kReadFirst && rng() % 4 == 0) ra = wa;  // collisions, a quarter of the time
    if (!kReadFirst && we && ra == wa) ra = (ra + 1) % kDepth;
    const std::uint64_t wd = rng() & mask;
    h->wr_en_i = en;
    h->wr_addr_i = wa;
    stqn_tb::field_put(h->wr_data_i, 0, kWidth, wd);
    h->rd_en_i = re;
    h->rd_addr_i = ra;
    h.tick();
    if (re) expected_out = model[ra];  // the word before this cycle's write
    collisions += re && en != 0 && ra == wa && model[ra].has_value();
    // A partly written word is compared only once all of it has been written.
    if (en != 0) {
      std::uint64_t seg_mask = 0;
      for (int s = 0; s < kSegs; ++s)
        if ((en >> s) & 1) seg_mask |= ((kGrain >= 64 ? ~0ull : ((1ull << kGrain) - 1)) << (s * kGrain));
      seg_mask &= mask;
      written[wa] |= seg_mask;
      value[wa] = (value[wa] & ~seg_mask) | (wd & seg_mask);
      if (written[wa] == mask) model[wa] = value[wa];
    }
    h.settle();
    if (expected_out) {
      ASSERT_EQ(stqn_tb::field_get(h->rd_data_o, 0, kWidth), *expected_out) << "cycle " << cycle;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
  if (kReadFirst) {
    EXPECT_GT(collisions, 1000);
  }
  EXPECT_FALSE(h.assertion_failed());
}

// Under reset the users' enables may come from registers the reset has not reached yet (the first
// clock edge after power-up), so the collision check waits for rst_ni; out of reset it fires.
TEST_F(Fixture, CollisionIsAssertedOutOfResetOnly) {
  if (kReadFirst) GTEST_SKIP() << "READ_FIRST defines the collision";
  const int a = static_cast<int>(rng() % kDepth);
  h->wr_en_i = 1;
  h->wr_addr_i = a;
  h->rd_en_i = 1;
  h->rd_addr_i = a;
  h->rst_ni = 0;
  h.tick();
  EXPECT_FALSE(h.assertion_failed()) << "under reset";
  h->rst_ni = 1;
  h.tick();
  EXPECT_TRUE(h.assertion_failed()) << "out of reset";
}

}  // namespace
