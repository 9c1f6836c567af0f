// Generators of valid packages with random shapes, codes and thresholds, for tests and benchmarks
// (the golden model's and the RTL's). Thresholds are calibrated on a random input so that every
// output code occurs; a fraction of them are pushed to the edge cases of docs/semantics.md.
#pragma once

#include "stqn/package.hpp"

#include <cstdint>
#include <vector>

namespace stqn {

struct RandomPackageOptions {
  int min_size = 4, max_size = 16;        // input height and width
  int max_input_channels = 1;             // uint8 input planes (data sets have 1)
  int max_channels = 48;                  // per conv layer
  int max_conv_layers = 4;
  std::vector<int> kernels = {1, 3, 5};
  std::vector<int> strides = {1, 2};
  std::vector<int> pool_kernels = {2, 3};
  std::vector<int> pool_strides = {};      // empty: uniform in 1 .. kernel
  // Kinds drawn for the first layer (on uint8 pixels) and for the hidden layers.
  std::vector<WeightType> first_weight_types = {{format::WeightKind::Int, 8},
                                                {format::WeightKind::Int, 2},
                                                {format::WeightKind::Ternary, 2}};
  std::vector<WeightType> weight_types = {{format::WeightKind::Ternary, 2},
                                          {format::WeightKind::Odd, 2},
                                          {format::WeightKind::Odd, 3},
                                          {format::WeightKind::Odd, 4},
                                          {format::WeightKind::Odd, 8},
                                          {format::WeightKind::Int, 2},
                                          {format::WeightKind::Int, 4},
                                          {format::WeightKind::Int, 8}};
  std::vector<ActType> act_types = {{format::ActKind::Ternary, 2},
                                    {format::ActKind::Uint, 1},
                                    {format::ActKind::Uint, 2},
                                    {format::ActKind::Uint, 3},
                                    {format::ActKind::Uint, 8},
                                    {format::ActKind::Int, 4},
                                    {format::ActKind::Int, 8}};
  double hidden_dense_probability = 0.25;  // a thresholded dense layer before the logits
  double edge_threshold_fraction = 0.05;   // thresholds moved to ties, extremes, beyond the bound
};

Package random_package(std::uint64_t seed, const RandomPackageOptions& options = {});

// The reference network of docs/reference-net.md (Fashion-MNIST 28x28, stem 1->32, blocks
// 32-32-64-64-128, max-pools after blocks 1 and 3, global average pool, dense 128->10) with random
// codes of the given types and calibrated thresholds.
Package reference_topology_package(std::uint64_t seed, WeightType block_weights, ActType block_acts);

// Sets a layer's thresholds from quantiles of its accumulators over `calibration`, so that each
// output code is about equally likely. Used by the generators; exposed for tests.
void thresholds_calibrate(Layer& layer, const std::vector<std::int32_t>& accumulators);

}  // namespace stqn
