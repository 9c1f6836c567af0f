// stqn_array: groups of random beats (ternary digits, random digit-plane shifts) through the
// ROWS x COLS array under random input stalls and output back-pressure, compared bit-exactly with
// a C++ accumulation; reset in the middle of a run; the handshake assertions.
#include STQN_TB_HEADER

#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kRows = STQN_P_ROWS, kCols = STQN_P_COLS;
constexpr int kAccBits = STQN_P_ACC_W, kShiftBits = STQN_P_SHIFT_W;
using Dut = STQN_TB_MODEL;

struct Beat {
  std::vector<int> w;  // (ROWS, LANES)
  std::vector<int> a;  // (COLS, LANES)
  int shift = 0;
  bool last = false;
};

// Expected accumulators of one group: (ROWS, COLS), S = sum over beats of dot * 2^shift.
std::vector<std::int64_t> group_golden(const std::vector<Beat>& group) {
  std::vector<std::int64_t> acc(kRows * kCols, 0);
  for (const Beat& b : group) {
    for (int r = 0; r < kRows; ++r) {
      for (int c = 0; c < kCols; ++c) {
        std::int64_t dot = 0;
        for (int i = 0; i < kLanes; ++i) dot += b.w[r * kLanes + i] * b.a[c * kLanes + i];
        acc[r * kCols + c] += dot << b.shift;
      }
    }
  }
  return acc;
}

// A random group whose every partial sum fits the accumulator (as the compiler guarantees).
std::vector<Beat> group_random(std::mt19937_64& rng, bool planes) {
  const int beats = std::uniform_int_distribution<int>(1, 24)(rng);
  int max_shift = 0;
  if (planes) {
    while (max_shift + 1 < (1 << kShiftBits) &&
           std::int64_t{beats} * kLanes << (max_shift + 1) < (std::int64_t{1} << (kAccBits - 1)))
      ++max_shift;
  }
  std::uniform_int_distribution<int> digit(-1, 1), shift(0, max_shift);
  std::vector<Beat> group(beats);
  for (int n = 0; n < beats; ++n) {
    Beat& b = group[n];
    b.w.resize(kRows * kLanes);
    b.a.resize(kCols * kLanes);
    for (int& v : b.w) v = digit(rng);
    for (int& v : b.a) v = digit(rng);
    b.shift = shift(rng);
    b.last = n + 1 == beats;
  }
  return group;
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  void drive(const Beat& b) {
    for (int i = 0; i < kRows * kLanes; ++i)
      stqn_tb::field_put(h->in_w_i, 2 * i, 2, stqn_tb::digit_encode(b.w[i]));
    for (int i = 0; i < kCols * kLanes; ++i)
      stqn_tb::field_put(h->in_a_i, 2 * i, 2, stqn_tb::digit_encode(b.a[i]));
    h->in_shift_i = b.shift;
    h->in_last_i = b.last;
  }

  // Streams `groups` through the array and checks every output; returns the cycles taken.
  std::uint64_t run(const std::vector<std::vector<Beat>>& groups, double p_valid, double p_ready) {
    std::deque<Beat> beats;
    std::deque<std::vector<std::int64_t>> expected;
    for (const auto& g : groups) {
      for (const Beat& b : g) beats.push_back(b);
      expected.push_back(group_golden(g));
    }
    stqn_tb::Coin source(rng, p_valid), sink(rng, p_ready);
    bool offering = false;
    std::size_t checked = 0;
    const std::uint64_t start = h.cycles();
    const std::uint64_t limit = start + 100 + 20 * (beats.size() + groups.size()) / (p_valid * p_ready);
    while ((!expected.empty()) && h.cycles() < limit) {
      if (!offering && !beats.empty() && source.flip()) {
        drive(beats.front());
        offering = true;
      }
      h->in_valid_i = offering;
      h->out_ready_i = sink.flip();
      h.settle();
      const bool in_fire = offering && h->in_ready_o;
      const bool out_fire = h->out_valid_o && h->out_ready_i;
      if (out_fire) {
        const auto& exp = expected.front();
        for (int p = 0; p < kRows * kCols; ++p) {
          const std::int64_t got =
              stqn_tb::sign_extend(stqn_tb::field_get(h->out_acc_o, p * kAccBits, kAccBits), kAccBits);
          EXPECT_EQ(got, exp[p]) << "group " << checked << " row " << p / kCols << " col "
                                 << p % kCols;
        }
        expected.pop_front();
        ++checked;
      }
      h.tick();
      if (in_fire) {
        beats.pop_front();
        offering = false;
      }
    }
    EXPECT_TRUE(expected.empty()) << "timed out with " << expected.size() << " groups pending";
    EXPECT_FALSE(h.assertion_failed());
    return h.cycles() - start;
  }
};

TEST_F(Fixture, MatchesGoldenAtFullRate) {
  h.reset();
  std::vector<std::vector<Beat>> groups;
  for (int g = 0; g < 40; ++g) groups.push_back(group_random(rng, false));
  std::size_t beats = 0;
  for (const auto& g : groups) beats += g.size();
  const std::uint64_t cycles = run(groups, 1.0, 1.0);
  // One beat per cycle, plus the two-stage pipeline latency: no bubbles between groups.
  EXPECT_EQ(cycles, beats + 2);
}

TEST_F(Fixture, MatchesGoldenUnderRandomStallsAndBackPressure) {
  h.reset();
  for (double p : {0.3, 0.7}) {
    std::vector<std::vector<Beat>> groups;
    for (int g = 0; g < 40; ++g) groups.push_back(group_random(rng, g % 2 == 1));
    run(groups, p, 1.0 - p / 2);
  }
}

TEST_F(Fixture, DigitPlaneShiftsReachTheAccumulatorWidth) {
  h.reset();
  std::vector<std::vector<Beat>> groups;
  for (int g = 0; g < 60; ++g) groups.push_back(group_random(rng, true));
  run(groups, 0.8, 0.6);
}

TEST_F(Fixture, ResetMidGroupLeavesArrayReadyForNextRun) {
  h.reset();
  // Start a group and stop half-way with an unread result pending.
  const auto first = group_random(rng, true);
  run({group_random(rng, false)}, 1.0, 1.0);
  h->in_valid_i = 1;
  for (std::size_t n = 0; n + 1 < first.size(); ++n) {
    drive(first[n]);
    h.tick();
  }
  h->in_valid_i = 0;
  h.reset(1);
  EXPECT_EQ(h->out_valid_o, 0);
  std::vector<std::vector<Beat>> groups;
  for (int g = 0; g < 10; ++g) groups.push_back(group_random(rng, true));
  run(groups, 0.6, 0.6);
}

TEST_F(Fixture, AssertionCatchesSourceDroppingValid) {
  h.reset();
  // Hold the output register full so the array stops accepting, then withdraw the beat.
  Beat b = group_random(rng, false).front();
  b.last = true;
  drive(b);
  h->in_valid_i = 1;
  h->out_ready_i = 0;
  h.tick();  // accepted
  h.tick();  // stage 1 -> output register
  h.tick();
  h.settle();
  ASSERT_EQ(h->in_ready_o, 0);
  h.tick();  // offered, not accepted
  h->in_valid_i = 0;
  h.tick();
  EXPECT_TRUE(h.assertion_failed());
}

}  // namespace
