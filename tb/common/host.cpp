// Host-side conversions (see stqn_tb/host.hpp).
#include "stqn_tb/host.hpp"

#include <stdexcept>
#include <string>

namespace stqn_tb {

std::int32_t threshold_saturate(std::int32_t theta, int acc_bits, std::int64_t bound) {
  if (acc_bits < 2 || acc_bits > 32) throw std::invalid_argument("acc_bits out of [2, 32]");
  const std::int64_t hi = (std::int64_t{1} << (acc_bits - 1)) - 1;
  const std::int64_t lo = -(std::int64_t{1} << (acc_bits - 1));
  if (bound < 0 || bound >= hi) {
    throw std::invalid_argument("accumulator bound " + std::to_string(bound) +
                                " does not fit a " + std::to_string(acc_bits) +
                                "-bit accumulator with room to saturate");
  }
  if (theta > hi) return static_cast<std::int32_t>(hi);
  if (theta < lo) return static_cast<std::int32_t>(lo);
  return theta;
}

}  // namespace stqn_tb
