// stqn_dot: the LANES-wide ternary dot product against a plain C++ sum, exhaustive for small
// widths (over digits, and over every raw bit pattern, the never-produced code 10 included) and
// random (including every-lane-extreme vectors) for wide ones. The *_ice40 points run the same
// cases on the SB_LUT4 instances (Yosys's simulation model) instead of the Verilog twin.
#include STQN_TB_HEADER

#include "stqn_tb/harness.hpp"
#include "stqn_tb/host.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {

constexpr int kLanes = STQN_P_LANES;
constexpr int kSumBits = [] { int b = 0; while ((1 << b) < kLanes) ++b; return b + 2; }();
using Dut = STQN_TB_MODEL;

struct Fixture : ::testing::Test {
  std::uint64_t seed = stqn_tb::test_seed();
  std::mt19937_64 rng{seed};
  stqn_tb::Harness<Dut> h{seed};

  // Drives w and a (values in {-1, 0, 1}, or the invalid code 2 = "10") and returns the sum.
  int evaluate(const std::vector<int>& w, const std::vector<int>& a) {
    for (int i = 0; i < kLanes; ++i) {
      stqn_tb::field_put(h->w_i, 2 * i, 2, w[i] == 2 ? 2u : stqn_tb::digit_encode(w[i]));
      stqn_tb::field_put(h->a_i, 2 * i, 2, a[i] == 2 ? 2u : stqn_tb::digit_encode(a[i]));
    }
    h.settle();
    return static_cast<int>(stqn_tb::sign_extend(h->sum_o, kSumBits));
  }
  static int golden(const std::vector<int>& w, const std::vector<int>& a) {
    int s = 0;
    for (int i = 0; i < kLanes; ++i) s += (w[i] == 2 ? 0 : w[i]) * (a[i] == 2 ? 0 : a[i]);
    return s;
  }
};

TEST_F(Fixture, MatchesGoldenOnRandomVectors) {
  std::uniform_int_distribution<int> digit(-1, 1);
  for (int n = 0; n < 20000; ++n) {
    std::vector<int> w(kLanes), a(kLanes);
    for (int i = 0; i < kLanes; ++i) w[i] = digit(rng), a[i] = digit(rng);
    ASSERT_EQ(evaluate(w, a), golden(w, a)) << "vector " << n;
  }
}

TEST_F(Fixture, ReachesBothExtremes) {
  std::vector<int> ones(kLanes, 1), minus(kLanes, -1), zeros(kLanes, 0);
  EXPECT_EQ(evaluate(ones, ones), kLanes);
  EXPECT_EQ(evaluate(minus, minus), kLanes);
  EXPECT_EQ(evaluate(ones, minus), -kLanes);
  EXPECT_EQ(evaluate(minus, ones), -kLanes);
  EXPECT_EQ(evaluate(zeros, ones), 0);
}

// The code 0b10 is never produced; the lane logic must read it as 0 (nz bit clear).
TEST_F(Fixture, InvalidCodeReadsAsZero) {
  std::uniform_int_distribution<int> digit(-1, 2);
  for (int n = 0; n < 5000; ++n) {
    std::vector<int> w(kLanes), a(kLanes);
    for (int i = 0; i < kLanes; ++i) w[i] = digit(rng), a[i] = digit(rng);
    ASSERT_EQ(evaluate(w, a), golden(w, a)) << "vector " << n;
  }
}

// Every bit pattern of the inputs (2^(4*LANES)): each lane-pair function sees all of its inputs.
TEST_F(Fixture, ExhaustiveOverRawBitsForSmallWidths) {
  if (kLanes > 4) GTEST_SKIP() << "2^(4*LANES) vectors; random coverage is used instead";
  const auto code_value = [](std::uint32_t code) { return code == 2u ? 2 : stqn_tb::digit_decode(code); };
  // min(): the bound stays a valid shift at the widths that skip (the compiler still sees it).
  for (std::uint32_t bits = 0; bits < (1u << (4 * std::min(kLanes, 4))); ++bits) {
    std::vector<int> w(kLanes), a(kLanes);
    for (int i = 0; i < kLanes; ++i) {
      w[i] = code_value((bits >> (2 * i)) & 3u);
      a[i] = code_value((bits >> (2 * kLanes + 2 * i)) & 3u);
    }
    ASSERT_EQ(evaluate(w, a), golden(w, a)) << "bits 0x" << std::hex << bits;
  }
}

TEST_F(Fixture, ExhaustiveForSmallWidths) {
  if (kLanes > 4) GTEST_SKIP() << "3^(2*LANES) vectors; random coverage is used instead";
  const int digits = 2 * kLanes;
  int total = 1;
  for (int i = 0; i < digits; ++i) total *= 3;
  for (int code = 0; code < total; ++code) {
    std::vector<int> w(kLanes), a(kLanes);
    int c = code;
    for (int i = 0; i < kLanes; ++i) { w[i] = c % 3 - 1; c /= 3; }
    for (int i = 0; i < kLanes; ++i) { a[i] = c % 3 - 1; c /= 3; }
    ASSERT_EQ(evaluate(w, a), golden(w, a)) << "vector " << code;
  }
}

}  // namespace
