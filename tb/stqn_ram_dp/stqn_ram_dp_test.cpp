// stqn_ram_dp: random writes and reads against a C++ array: one-cycle read latency, read-first
// when reading the address being written, output held while no read is issued.
#include STQN_TB_HEADER

#include "stqn_tb/harness.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace {

constexpr int kWidth = STQN_P_WIDTH, kDepth = STQN_P_DEPTH;
using Dut = STQN_TB_MODEL;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};
};

TEST_F(Fixture, MatchesModelUnderRandomTraffic) {
  const std::uint64_t mask = kWidth >= 64 ? ~0ull : ((1ull << kWidth) - 1);
  std::vector<std::optional<std::uint64_t>> model(kDepth);  // nullopt: never written
  std::optional<std::uint64_t> expected_out;
  std::uniform_int_distribution<int> addr(0, kDepth - 1);
  int checked = 0;
  for (int cycle = 0; cycle < 20000; ++cycle) {
    const bool we = rng() % 2, re = rng() % 3 != 0;
    const int wa = addr(rng);
    // Reads hit the write address a quarter of the time (read-first).
    const int ra = (we && rng() % 4 == 0) ? wa : addr(rng);
    const std::uint64_t wd = rng() & mask;
    h->wr_en_i = we;
    h->wr_addr_i = wa;
    stqn_tb::field_put(h->wr_data_i, 0, kWidth, wd);
    h->rd_en_i = re;
    h->rd_addr_i = ra;
    h.tick();
    if (re) expected_out = model[ra];  // old contents: read-first
    if (we) model[wa] = wd;
    h.settle();
    if (expected_out) {
      ASSERT_EQ(stqn_tb::field_get(h->rd_data_o, 0, kWidth), *expected_out) << "cycle " << cycle;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
}

}  // namespace
