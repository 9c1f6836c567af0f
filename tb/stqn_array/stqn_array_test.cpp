// stqn_array: groups of random beats (ternary digits with random digit-plane shifts, int8 weight x
// uint8 pixel beats on random words, and both mixed) through the ROWS x COLS array under random
// input stalls and output back-pressure, compared bit-exactly with a C++ accumulation; reset in
// the middle of a run; the handshake assertions.
#include STQN_TB_HEADER

#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES, kRows = STQN_P_ROWS, kCols = STQN_P_COLS;
constexpr int kAccBits = STQN_P_ACC_W, kShiftBits = STQN_P_SHIFT_W;
using Dut = STQN_TB_MODEL;

constexpr int kWordBits = 2 * kLanes;
constexpr int kHalves = kLanes >= 8 ? 2 : 1;  // pixel slots of a word (int8 beats pick one): its
                                              // half words, or the whole word if it is a byte
constexpr int kMaxShift = std::min(14, (1 << kShiftBits) - 1);  // 2^shift: a 16-bit signed value
static_assert(kWordBits <= 64, "words are held in 64-bit integers here");

// One beat as the array sees it: the raw weight word of each row and activation word of each
// column. A ternary beat's words hold digits; an int8 beat's words are random bits with the
// operands at the documented places (weight: low byte of the row's word; pixel: low byte of half
// word `half` of the column's word), so that the array must ignore every other bit.
struct Beat {
  std::vector<std::uint64_t> w;  // (ROWS) words
  std::vector<std::uint64_t> a;  // (COLS) words
  bool int8 = false;
  int half = 0;
  int shift = 0;
  bool last = false;
};

std::int64_t digit_at(std::uint64_t word, int lane) {
  return stqn_tb::digit_decode(static_cast<std::uint32_t>((word >> (2 * lane)) & 3u));
}
std::int64_t weight_of(const Beat& b, int r) { return static_cast<std::int8_t>(b.w[r] & 0xffu); }
int pixel_lsb(int half) { return kLanes * half; }
std::int64_t pixel_of(const Beat& b, int c) { return (b.a[c] >> pixel_lsb(b.half)) & 0xffu; }

// Expected accumulators of one group: (ROWS, COLS), S = sum over beats of
// dot * 2^shift (ternary) or weight_r * pixel_c (int8).
std::vector<std::int64_t> group_golden(const std::vector<Beat>& group) {
  std::vector<std::int64_t> acc(kRows * kCols, 0);
  for (const Beat& b : group) {
    for (int r = 0; r < kRows; ++r) {
      for (int c = 0; c < kCols; ++c) {
        if (b.int8) {
          acc[r * kCols + c] += weight_of(b, r) * pixel_of(b, c);
          continue;
        }
        std::int64_t dot = 0;
        for (int i = 0; i < kLanes; ++i) dot += digit_at(b.w[r], i) * digit_at(b.a[c], i);
        acc[r * kCols + c] += dot << b.shift;
      }
    }
  }
  return acc;
}

std::uint64_t word_random(std::mt19937_64& rng) {
  return kWordBits == 64 ? rng() : rng() & ((std::uint64_t{1} << kWordBits) - 1);
}

std::uint64_t word_of_digits(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> digit(-1, 1);
  std::uint64_t word = 0;
  for (int i = 0; i < kLanes; ++i)
    word |= std::uint64_t{stqn_tb::digit_encode(digit(rng))} << (2 * i);
  return word;
}

// A byte that is an extreme (0, 127, 128 = -128 as int8, 255) half of the time.
std::uint64_t byte_random(std::mt19937_64& rng) {
  static const std::uint64_t extremes[] = {0, 127, 128, 255};
  return rng() % 2 ? extremes[rng() % 4] : rng() % 256;
}

enum class Kind { Ternary, Planes, Int8, Mixed };

// A random group whose every partial sum fits the accumulator (as the compiler guarantees):
// ternary beats at shift 0 (Ternary) or random digit-plane shifts (Planes), int8 beats (Int8), or
// both kinds in one group (Mixed).
std::vector<Beat> group_random(std::mt19937_64& rng, Kind kind) {
  const int beats = std::uniform_int_distribution<int>(1, 24)(rng);
  const std::int64_t int8_bound = 255 * 128;
  std::int64_t budget = (std::int64_t{1} << (kAccBits - 1)) - 1;  // what the later beats may add
  std::vector<Beat> group(beats);
  for (int n = 0; n < beats; ++n) {
    Beat& b = group[n];
    b.int8 = kind == Kind::Int8 || (kind == Kind::Mixed && rng() % 2);
    const int left = beats - n - 1;  // keep room for the worst case of every later beat
    const std::int64_t reserve = left * (kind == Kind::Planes ? kLanes : int8_bound);
    if (b.int8) {
      b.half = static_cast<int>(rng() % kHalves);
      b.shift = static_cast<int>(rng() % (kMaxShift + 1));  // ignored in int8 beats
      for (auto& w : b.w = std::vector<std::uint64_t>(kRows)) w = (word_random(rng) & ~0xffull) | byte_random(rng);
      for (auto& a : b.a = std::vector<std::uint64_t>(kCols)) {
        a = word_random(rng) & ~(0xffull << pixel_lsb(b.half));
        a |= byte_random(rng) << pixel_lsb(b.half);
      }
      budget -= int8_bound;
    } else {
      int max_shift = 0;
      if (kind != Kind::Ternary) {
        while (max_shift < kMaxShift && (std::int64_t{kLanes} << (max_shift + 1)) <= budget - reserve)
          ++max_shift;
      }
      b.shift = std::uniform_int_distribution<int>(0, max_shift)(rng);
      b.half = static_cast<int>(rng() % kHalves);  // ignored in ternary beats
      for (auto& w : b.w = std::vector<std::uint64_t>(kRows)) w = word_of_digits(rng);
      for (auto& a : b.a = std::vector<std::uint64_t>(kCols)) a = word_of_digits(rng);
      budget -= std::int64_t{kLanes} << b.shift;
    }
    b.last = n + 1 == beats;
  }
  return group;
}

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  void drive(const Beat& b) {
    for (int r = 0; r < kRows; ++r) stqn_tb::field_put(h->in_w_i, r * kWordBits, kWordBits, b.w[r]);
    for (int c = 0; c < kCols; ++c) stqn_tb::field_put(h->in_a_i, c * kWordBits, kWordBits, b.a[c]);
    h->in_shift_i = b.shift;
    h->in_int8_i = b.int8;
    h->in_half_i = b.half;
    h->in_last_i = b.last;
  }

  // The output beat against the expected accumulators of group `n`.
  void expect_out(const std::vector<std::int64_t>& exp, std::size_t n) {
    for (int p = 0; p < kRows * kCols; ++p) {
      const std::int64_t got =
          stqn_tb::sign_extend(stqn_tb::field_get(h->out_acc_o, p * kAccBits, kAccBits), kAccBits);
      EXPECT_EQ(got, exp[p]) << "group " << n << " row " << p / kCols << " col " << p % kCols;
    }
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
        expect_out(expected.front(), checked);
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
  for (int g = 0; g < 40; ++g) groups.push_back(group_random(rng, Kind::Ternary));
  std::size_t beats = 0;
  for (const auto& g : groups) beats += g.size();
  const std::uint64_t cycles = run(groups, 1.0, 1.0);
  // One beat per cycle, plus the first stage's latency (a group's last beat there is the output
  // beat): no bubbles between groups.
  EXPECT_EQ(cycles, beats + 1);
}

// A finished group is the output beat: its last beat waits in the first stage, with its sums on
// out_acc_o, until it is taken, and only then does the next group's first beat enter (the array
// keeps no copy; the write-back takes the group into its own register in the cycle after its last
// read of the previous one).
TEST_F(Fixture, LastBeatWaitsUntilTakenThenNextGroupStartsFromZero) {
  h.reset();
  const auto first = group_random(rng, Kind::Planes);
  auto second = group_random(rng, Kind::Planes);
  while (second.size() < 2) second = group_random(rng, Kind::Planes);
  std::vector<Beat> beats(first);
  beats.insert(beats.end(), second.begin(), second.end());
  h->out_ready_i = 0;
  std::size_t taken = 0;
  for (std::size_t cycle = 0; cycle < beats.size() + 8; ++cycle) {
    h->in_valid_i = taken < beats.size();
    if (taken < beats.size()) drive(beats[taken]);
    h.settle();
    const bool fire = h->in_valid_i && h->in_ready_o;
    h.tick();
    taken += fire;
  }
  EXPECT_EQ(taken, first.size()) << "beats taken while the first group waited";
  h.settle();
  EXPECT_EQ(h->in_ready_o, 0);  // the second group's first beat waits
  ASSERT_EQ(h->out_valid_o, 1);
  expect_out(group_golden(first), 0);
  h->out_ready_i = 1;
  h.settle();
  EXPECT_EQ(h->in_ready_o, 1);
  h.tick();  // the first group leaves, the second one's first beat enters
  h->out_ready_i = 0;
  for (std::size_t n = 1; n < second.size(); ++n) {
    drive(second[n]);
    h.settle();
    EXPECT_EQ(h->out_valid_o, 0);
    ASSERT_EQ(h->in_ready_o, 1);
    h.tick();
  }
  h->in_valid_i = 0;
  h.settle();
  ASSERT_EQ(h->out_valid_o, 1);
  expect_out(group_golden(second), 1);  // accumulated from zero
  h->out_ready_i = 1;
  h.tick();
  h.settle();
  EXPECT_EQ(h->out_valid_o, 0);
  EXPECT_FALSE(h.assertion_failed());
}

TEST_F(Fixture, MatchesGoldenUnderRandomStallsAndBackPressure) {
  h.reset();
  for (double p : {0.3, 0.7}) {
    std::vector<std::vector<Beat>> groups;
    for (int g = 0; g < 40; ++g) groups.push_back(group_random(rng, g % 2 == 1 ? Kind::Planes : Kind::Ternary));
    run(groups, p, 1.0 - p / 2);
  }
}

TEST_F(Fixture, DigitPlaneShiftsReachTheAccumulatorWidth) {
  h.reset();
  std::vector<std::vector<Beat>> groups;
  for (int g = 0; g < 60; ++g) groups.push_back(group_random(rng, Kind::Planes));
  run(groups, 0.8, 0.6);
}

// int8 groups (random operands, half of them extremes: pixel 0/255, weight -128/127) back to back
// with ternary and digit-plane groups and groups mixing both kinds, at full rate (no bubble when
// the kind changes) and under stalls.
TEST_F(Fixture, Int8BeatsMatchGoldenMixedWithTernaryGroups) {
  h.reset();
  const Kind kinds[] = {Kind::Int8, Kind::Ternary, Kind::Int8, Kind::Planes, Kind::Mixed};
  std::vector<std::vector<Beat>> groups;
  for (int g = 0; g < 60; ++g) groups.push_back(group_random(rng, kinds[g % 5]));
  std::size_t beats = 0;
  for (const auto& g : groups) beats += g.size();
  EXPECT_EQ(run(groups, 1.0, 1.0), beats + 1);
  groups.clear();
  for (int g = 0; g < 60; ++g) groups.push_back(group_random(rng, kinds[rng() % 5]));
  run(groups, 0.6, 0.7);
}

// The int8 extremes accumulated over a stem group (9 taps) and over the longest test group:
// 255 * -128 and 255 * 127 in every beat, the half index walking both halves of the word.
TEST_F(Fixture, Int8ExtremesReachTheStemBound) {
  h.reset();
  std::vector<std::vector<Beat>> groups;
  for (int beats : {9, 24}) {
    for (std::uint64_t weight : {0x80ull, 0x7full}) {
      std::vector<Beat> group(beats);
      for (int n = 0; n < beats; ++n) {
        Beat& b = group[n];
        b.int8 = true;
        b.half = n % kHalves;
        b.w.assign(kRows, (word_random(rng) & ~0xffull) | weight);
        b.a.assign(kCols, word_random(rng) | (0xffull << pixel_lsb(b.half)));
        b.last = n + 1 == beats;
      }
      groups.push_back(group);
      const auto exp = group_golden(group);
      EXPECT_EQ(exp[0], beats * 255 * (weight == 0x80 ? -128 : 127));  // the model itself
    }
  }
  run(groups, 0.9, 0.9);
}

TEST_F(Fixture, ResetMidGroupLeavesArrayReadyForNextRun) {
  h.reset();
  // Start a group and stop half-way with an unread result pending.
  const auto first = group_random(rng, Kind::Planes);
  run({group_random(rng, Kind::Ternary)}, 1.0, 1.0);
  h->in_valid_i = 1;
  for (std::size_t n = 0; n + 1 < first.size(); ++n) {
    drive(first[n]);
    h.tick();
  }
  h->in_valid_i = 0;
  h.reset(1);
  EXPECT_EQ(h->out_valid_o, 0);
  std::vector<std::vector<Beat>> groups;
  for (int g = 0; g < 10; ++g) groups.push_back(group_random(rng, Kind::Planes));
  run(groups, 0.6, 0.6);
}

TEST_F(Fixture, AssertionCatchesSourceDroppingValid) {
  h.reset();
  // Leave a group's last beat untaken so the array stops accepting, then withdraw the beat.
  Beat b = group_random(rng, Kind::Ternary).front();
  b.last = true;
  drive(b);
  h->in_valid_i = 1;
  h->out_ready_i = 0;
  h.tick();  // accepted
  h.tick();  // waits in stage 1
  h.tick();
  h.settle();
  ASSERT_EQ(h->in_ready_o, 0);
  h.tick();  // offered, not accepted
  h->in_valid_i = 0;
  h.tick();
  EXPECT_TRUE(h.assertion_failed());
}

}  // namespace
