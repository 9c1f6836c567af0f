// Shared testbench drivers (see stqn_tb/harness.hpp).
#include "stqn_tb/harness.hpp"

#include <cstdio>
#include <cstdlib>
#include <random>

namespace stqn_tb {

std::uint64_t test_seed() {
  std::uint64_t seed;
  if (const char* env = std::getenv("STQN_SEED"); env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 0);
  } else {
    seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  }
  std::printf("[ seed     ] %llu (replay with STQN_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

}  // namespace stqn_tb
