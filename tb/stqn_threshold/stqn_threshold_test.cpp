// stqn_threshold: channels of random activation types with random and edge-case int32 thresholds
// (ties, equal thresholds, INT32_MIN/MAX, beyond the accumulator bound), saturated to ACC_W by
// the host helper, compared with the golden model's threshold_apply on the unsaturated ones.
// With UNITS > 1 every beat carries UNITS accumulators of one channel (the same thresholds), each
// compared on its own.
#include STQN_TB_HEADER

#include "stqn/reference.hpp"
#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <vector>

namespace {

constexpr int kAccBits = STQN_P_ACC_W, kNth = STQN_P_NTH, kCodeBits = 9, kUserBits = 16;
constexpr int kUnits = STQN_P_UNITS;
using Dut = STQN_TB_MODEL;
using stqn::format::ActKind;

struct Case {
  stqn::ActType act;
  std::int64_t bound = 0;
  std::vector<std::int32_t> thresholds;  // int32, as in the package
  std::vector<std::int32_t> acc;         // one per unit
  std::vector<std::int32_t> expected;    // from the golden model
};

// The golden codes of a case's accumulators.
void case_expect(Case& c) {
  stqn::Layer layer;
  layer.out_act = c.act;
  layer.thresholds = c.thresholds;
  c.expected.clear();
  for (const std::int32_t s : c.acc) {
    stqn::Tensor t(stqn::Shape{1, 1, 1});
    t.data[0] = s;
    c.expected.push_back(stqn::threshold_apply(layer, t).data[0]);
  }
}

const std::vector<stqn::ActType> kActTypes = {
    {ActKind::Ternary, 2}, {ActKind::Uint, 1}, {ActKind::Uint, 2}, {ActKind::Uint, 3},
    {ActKind::Int, 4},     {ActKind::Uint, 8}, {ActKind::Int, 8}};

Case case_random(std::mt19937_64& rng) {
  Case c;
  c.act = kActTypes[rng() % kActTypes.size()];
  const std::int64_t max_bound = (std::int64_t{1} << (kAccBits - 1)) - 2;
  c.bound = std::uniform_int_distribution<std::int64_t>(1, rng() % 2 ? 600 : max_bound)(rng);
  const int levels = c.act.num_thresholds();
  std::uniform_int_distribution<std::int64_t> in_range(-c.bound, c.bound);
  for (int l = 0; l < levels; ++l) {
    std::int64_t t;
    switch (rng() % 8) {
      case 0: t = std::numeric_limits<std::int32_t>::min(); break;
      case 1: t = std::numeric_limits<std::int32_t>::max(); break;
      case 2: t = c.bound + 1 + rng() % 1000; break;              // unreachable from above
      case 3: t = -c.bound - static_cast<std::int64_t>(rng() % 1000); break;  // always reached
      case 4: t = l > 0 ? c.thresholds[l - 1] : in_range(rng); break;       // equal thresholds
      default: t = in_range(rng);
    }
    c.thresholds.push_back(static_cast<std::int32_t>(t));
  }
  std::sort(c.thresholds.begin(), c.thresholds.end());
  // Accumulators: often exactly at a threshold (ties count), else anywhere reachable.
  for (int u = 0; u < kUnits; ++u) {
    std::int64_t a = in_range(rng);
    if (rng() % 3 == 0) a = std::clamp<std::int64_t>(c.thresholds[rng() % levels] + static_cast<int>(rng() % 3) - 1,
                                                     -c.bound, c.bound);
    c.acc.push_back(static_cast<std::int32_t>(a));
  }
  case_expect(c);
  return c;
}

struct Beat {
  std::vector<std::int32_t> acc;
  std::vector<std::int32_t> thr;
  int base;
  bool first, last;
  int user;
};

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  void run(const std::vector<Case>& cases, double p_valid, double p_ready) {
    std::deque<Beat> beats;
    for (std::size_t n = 0; n < cases.size(); ++n) {
      const Case& c = cases[n];
      const int levels = static_cast<int>(c.thresholds.size());
      for (int l0 = 0; l0 < levels; l0 += kNth) {
        Beat b{c.acc, {}, c.act.range().lo, l0 == 0, l0 + kNth >= levels,
               static_cast<int>(n % (1 << kUserBits))};
        for (int l = l0; l < std::min(levels, l0 + kNth); ++l)
          b.thr.push_back(stqn_tb::threshold_saturate(c.thresholds[l], kAccBits, c.bound));
        beats.push_back(b);
      }
    }
    stqn_tb::Coin source(rng, p_valid), sink(rng, p_ready);
    bool offering = false;
    std::size_t next = 0;
    const std::uint64_t limit = h.cycles() + 100 + 10 * beats.size() / (p_valid * p_ready);
    while (next < cases.size() && h.cycles() < limit) {
      if (!offering && !beats.empty() && source.flip()) {
        const Beat& b = beats.front();
        for (int u = 0; u < kUnits; ++u)
          stqn_tb::field_put(h->in_acc_i, u * kAccBits, kAccBits, static_cast<std::uint32_t>(b.acc[u]));
        for (int l = 0; l < kNth; ++l) {
          const std::int32_t t = l < static_cast<int>(b.thr.size()) ? b.thr[l]
                                                                     : static_cast<std::int32_t>(rng());
          stqn_tb::field_put(h->in_thr_i, l * kAccBits, kAccBits, static_cast<std::uint32_t>(t));
        }
        h->in_count_i = static_cast<int>(b.thr.size());
        h->in_base_i = static_cast<std::uint32_t>(b.base) & ((1u << kCodeBits) - 1);
        h->in_first_i = b.first;
        h->in_last_i = b.last;
        h->in_user_i = b.user;
        offering = true;
      }
      h->in_valid_i = offering;
      h->out_ready_i = sink.flip();
      h.settle();
      const bool in_fire = offering && h->in_ready_o;
      if (h->out_valid_o && h->out_ready_i) {
        const Case& c = cases[next];
        for (int u = 0; u < kUnits; ++u)
          EXPECT_EQ(stqn_tb::sign_extend(stqn_tb::field_get(h->out_code_o, u * kCodeBits, kCodeBits), kCodeBits),
                    c.expected[u])
              << "case " << next << " unit " << u << ": " << c.act.name() << " S=" << c.acc[u]
              << " bound=" << c.bound;
        EXPECT_EQ(static_cast<int>(h->out_user_o), static_cast<int>(next % (1 << kUserBits)));
        ++next;
      }
      h.tick();
      if (in_fire) {
        beats.pop_front();
        offering = false;
      }
    }
    EXPECT_EQ(next, cases.size()) << "timed out";
    EXPECT_FALSE(h.assertion_failed());
  }
};

TEST_F(Fixture, MatchesGoldenUnderRandomStallsAndBackPressure) {
  h.reset();
  std::vector<Case> cases;
  for (int n = 0; n < 3000; ++n) cases.push_back(case_random(rng));
  run(cases, 0.7, 0.6);
  run(cases, 1.0, 1.0);
}

TEST_F(Fixture, EdgeCasesOfMethodSection5) {
  h.reset();
  const std::int32_t lo = std::numeric_limits<std::int32_t>::min();
  const std::int32_t hi = std::numeric_limits<std::int32_t>::max();
  const stqn::ActType ternary{ActKind::Ternary, 2};
  std::vector<Case> cases;
  // Every unit gets the edge case's S, except unit u > 0 of every other case, which gets an
  // ordinary one (units must not influence each other).
  auto add = [&](std::int32_t acc, std::int32_t t0, std::int32_t t1, std::int64_t bound) {
    Case c;
    c.act = ternary;
    c.bound = bound;
    c.thresholds = {t0, t1};
    for (int u = 0; u < kUnits; ++u)
      c.acc.push_back(u > 0 && cases.size() % 2 ? static_cast<std::int32_t>(u % 3) - 1 : acc);
    case_expect(c);
    cases.push_back(c);
  };
  add(5, 5, 5, 10);         // tie on both equal thresholds -> +1
  add(4, 5, 5, 10);         // just below -> -1
  add(-10, lo, hi, 10);     // extremes -> 0
  add(10, lo, lo, 10);      // both always reached -> +1
  add(-10, hi, hi, 10);     // never reached -> -1
  add(10, 11, 12, 10);      // beyond the bound -> -1 at the largest reachable S
  add(-10, -11, -10, 10);   // tie at the smallest reachable S
  const std::int64_t max_bound = (std::int64_t{1} << (kAccBits - 1)) - 2;
  add(static_cast<std::int32_t>(max_bound), static_cast<std::int32_t>(max_bound), hi, max_bound);
  add(static_cast<std::int32_t>(-max_bound), lo, static_cast<std::int32_t>(-max_bound), max_bound);
  // The spec's answers, written out: the golden model must agree before the RTL is compared.
  const std::vector<std::int32_t> spec = {1, -1, 0, 1, -1, -1, 1, 0, 1};
  ASSERT_EQ(cases.size(), spec.size());
  for (std::size_t n = 0; n < spec.size(); ++n) EXPECT_EQ(cases[n].expected[0], spec[n]) << n;
  run(cases, 0.5, 0.5);
}

TEST(ThresholdSaturate, RejectsBoundsThatDoNotFit) {
  EXPECT_THROW(stqn_tb::threshold_saturate(0, kAccBits, std::int64_t{1} << (kAccBits - 1)),
               std::invalid_argument);
  EXPECT_EQ(stqn_tb::threshold_saturate(std::numeric_limits<std::int32_t>::max(), 8, 100), 127);
  EXPECT_EQ(stqn_tb::threshold_saturate(std::numeric_limits<std::int32_t>::min(), 8, 100), -128);
  EXPECT_EQ(stqn_tb::threshold_saturate(-7, 8, 100), -7);
}

}  // namespace
