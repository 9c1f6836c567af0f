// stqn_spram (behavioural SB_SPRAM256KA model): nibble-masked writes, one-cycle reads, output
// held between reads, chip select gating both, over the whole 16K address space.
#include STQN_TB_HEADER

#include "stqn_tb/harness.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace {

using Dut = STQN_TB_MODEL;
constexpr int kWords = 16384;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};
};

TEST_F(Fixture, MaskedWritesAndReadsMatchModel) {
  std::vector<std::uint16_t> model(kWords);
  // Fill every word first, so that every read below has a defined expectation.
  h->en_i = 1;
  h->we_i = 1;
  h->mask_i = 0xf;
  for (int a = 0; a < kWords; ++a) {
    model[a] = static_cast<std::uint16_t>(rng());
    h->addr_i = a;
    h->wdata_i = model[a];
    h.tick();
  }
  std::optional<std::uint16_t> out;
  for (int cycle = 0; cycle < 40000; ++cycle) {
    const bool en = rng() % 8 != 0, we = rng() % 2;
    const int a = static_cast<int>(rng() % (cycle % 2 ? 64 : kWords));  // hot spots and spread
    const int mask = static_cast<int>(rng() % 16);
    const std::uint16_t d = static_cast<std::uint16_t>(rng());
    h->en_i = en;
    h->we_i = we;
    h->mask_i = mask;
    h->addr_i = a;
    h->wdata_i = d;
    h.tick();
    if (en && we) {
      std::uint16_t bits = 0;
      for (int k = 0; k < 4; ++k) bits |= (mask >> k & 1) ? (0xf << (4 * k)) : 0;
      model[a] = static_cast<std::uint16_t>((model[a] & ~bits) | (d & bits));
    } else if (en) {
      out = model[a];
    }
    h.settle();
    if (out) {
      ASSERT_EQ(h->rdata_o, *out) << "cycle " << cycle << " address " << a;
    }
  }
}

}  // namespace
