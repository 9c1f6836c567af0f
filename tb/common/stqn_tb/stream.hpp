// A shared driver for stream stages (modules with in_valid/in_ready/in_data and
// out_valid/out_ready/out_data): random data under random stalls and back-pressure, checked to
// come out complete, in order and unchanged.
#pragma once

#include "stqn_tb/harness.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>

namespace stqn_tb {

struct StreamStats {
  std::uint64_t cycles = 0, beats = 0;
};

// Sends `beats` random words of `width` bits (<= 64). `on_cycle` is called after every settle
// with the harness (for extra checks such as a FIFO's count). Returns cycles and beats moved.
template <class Model, class OnCycle>
StreamStats stream_check(Harness<Model>& h, std::mt19937_64& rng, int width, std::size_t beats,
                         double p_valid, double p_ready, OnCycle on_cycle) {
  const std::uint64_t mask = width >= 64 ? ~0ull : ((1ull << width) - 1);
  std::deque<std::uint64_t> in_flight;
  Coin source(rng, p_valid), sink(rng, p_ready);
  bool offering = false;
  std::uint64_t word = 0;
  std::size_t sent = 0, received = 0;
  const std::uint64_t start = h.cycles();
  const std::uint64_t limit = start + 100 + 10 * beats / (p_valid * p_ready);
  while (received < beats && h.cycles() < limit) {
    if (!offering && sent < beats && source.flip()) {
      word = rng() & mask;
      field_put(h->in_data_i, 0, width, word);
      offering = true;
    }
    h->in_valid_i = offering;
    h->out_ready_i = sink.flip();
    h.settle();
    on_cycle(h);
    const bool in_fire = offering && h->in_ready_o;
    if (h->out_valid_o && h->out_ready_i) {
      EXPECT_FALSE(in_flight.empty()) << "beat out of nothing at cycle " << h.cycles();
      if (!in_flight.empty()) {
        EXPECT_EQ(field_get(h->out_data_o, 0, width), in_flight.front()) << "beat " << received;
        in_flight.pop_front();
      }
      ++received;
    }
    h.tick();
    if (in_fire) {
      in_flight.push_back(word);
      offering = false;
      ++sent;
    }
  }
  EXPECT_EQ(received, beats) << "timed out";
  EXPECT_FALSE(h.assertion_failed());
  return {h.cycles() - start, received};
}

}  // namespace stqn_tb
