// stqn_skid: every beat arrives once, in order, under random stalls and back-pressure, at one
// beat per cycle when nobody stalls, with a registered in_ready_o.
#include STQN_TB_HEADER

#include "stqn_tb/stream.hpp"

#include <gtest/gtest.h>

namespace {

constexpr int kWidth = STQN_P_WIDTH;
using Dut = STQN_TB_MODEL;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};
};

TEST_F(Fixture, PassesEveryBeatInOrderUnderRandomStallsAndBackPressure) {
  h.reset();
  for (double pv : {0.2, 0.6, 1.0}) {
    for (double pr : {0.2, 0.6, 1.0}) {
      stqn_tb::stream_check(h, rng, kWidth, 2000, pv, pr, [](auto&) {});
    }
  }
}

TEST_F(Fixture, FullThroughputWithoutStalls) {
  h.reset();
  const auto stats = stqn_tb::stream_check(h, rng, kWidth, 1000, 1.0, 1.0, [](auto&) {});
  EXPECT_EQ(stats.cycles, stats.beats + 1);  // one cycle of latency
}

TEST_F(Fixture, ReadyDoesNotDependOnOutReadyCombinationally) {
  h.reset();
  h->in_valid_i = 1;
  for (int n = 0; n < 200; ++n) {
    h->out_ready_i = static_cast<int>(rng() & 1);
    h.settle();
    const int ready = h->in_ready_o;
    h->out_ready_i = !h->out_ready_i;
    h.settle();
    ASSERT_EQ(h->in_ready_o, ready) << "cycle " << n;
    h.tick();
  }
}

TEST_F(Fixture, ResetEmptiesTheBuffer) {
  h.reset();
  h->in_valid_i = 1;
  h->out_ready_i = 0;
  for (int n = 0; n < 3; ++n) h.tick();
  h->in_valid_i = 0;
  h.reset(1);
  EXPECT_EQ(h->out_valid_o, 0);
  EXPECT_EQ(h->in_ready_o, 1);
  stqn_tb::stream_check(h, rng, kWidth, 500, 0.5, 0.5, [](auto&) {});
}

}  // namespace
