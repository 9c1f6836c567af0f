// Host-side conversions shared by the testbenches and (later) the program compiler: lane digits,
// threshold saturation to the accumulator width (docs/architecture.md section 4).
#pragma once

#include <cstdint>
#include <vector>

namespace stqn_tb {

// The 2-bit lane digit {neg, nz} of a value in {-1, 0, +1}.
inline std::uint32_t digit_encode(int v) { return v == 0 ? 0u : (v > 0 ? 1u : 3u); }
inline int digit_decode(std::uint32_t code) {
  return (code & 1u) == 0 ? 0 : ((code & 2u) != 0 ? -1 : 1);
}

// Saturates an int32 threshold to a signed acc_bits accumulator. Exact (same codes for every
// reachable S) when |S| <= bound < 2^(acc_bits-1) - 1; throws std::invalid_argument otherwise.
std::int32_t threshold_saturate(std::int32_t theta, int acc_bits, std::int64_t bound);

}  // namespace stqn_tb
