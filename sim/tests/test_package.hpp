// Random packages that a configuration holds, for the simulation tests (stqn-sim and TLM).
#pragma once

#include "stqn/accel/program.hpp"
#include "stqn/error.hpp"
#include "stqn/random_package.hpp"

#include <random>

namespace stqn::sim {

// A random package of stride-1 convs, pooling, a global pool and logits on `size` x `size`
// images (random sizes up to max_size if size is 0) that `config` holds; throws Error if none of
// kDraws does.
inline Package package_fitting(std::mt19937_64& rng, const accel::Config& config, int size = 0) {
  constexpr int kDraws = 500;
  RandomPackageOptions opt;
  if (size > 0) opt.min_size = opt.max_size = size;
  else opt.max_size = 8;
  opt.max_channels = 2 * config.lanes + 1;
  opt.max_conv_layers = 2;
  opt.strides = {1};
  opt.pool_kernels = {2}, opt.pool_strides = {2};  // the pools the write-back fuses
  opt.hidden_dense_probability = 0.0;
  for (int draw = 0; draw < kDraws; ++draw) {
    Package p = random_package(rng(), opt);
    if (accel::fit_problems(p, config).empty()) return p;
  }
  fail("package_fitting", "no random package out of {} fits configuration {}", kDraws, config.name);
}

}  // namespace stqn::sim
