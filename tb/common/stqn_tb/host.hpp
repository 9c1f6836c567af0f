// Host-side conversions for the testbenches: lane digits and threshold saturation, from the
// accelerator library (models/include/stqn/accel/layout.hpp), under the testbenches' names.
#pragma once

#include "stqn/accel/layout.hpp"

namespace stqn_tb {

using stqn::accel::digit_decode;
using stqn::accel::digit_encode;
using stqn::accel::threshold_saturate;

}  // namespace stqn_tb
